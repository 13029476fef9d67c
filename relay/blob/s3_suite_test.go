package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// The store suite contains the behaviour that every Store implementation
// shares. TestDiskStoreSuite and TestS3StoreSuite run it.

func TestDiskStoreSuite(t *testing.T) {
	testStoreSuite(t, func(t *testing.T) Store {
		d, err := NewDisk(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// testStoreSuite runs each case against a fresh store from newStore.
func testStoreSuite(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"round trip", testRoundTrip},
		{"empty object", testEmptyObject},
		{"replace", testReplace},
		{"abort leaves nothing", testAbortLeavesNothing},
		{"delete", testDelete},
		{"not found", testNotFound},
		{"invalid keys", testInvalidKeys},
		{"writer closed", testWriterClosed},
		{"large object", testLargeObject},
		{"check", testCheck},
		{"list", testList},
		{"list stops", testListStops},
		{"list prefix", testListPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

func testRoundTrip(t *testing.T, s Store) {
	want := []byte("OggS and more")
	mustPut(t, s, "01ABCD/01ABCDEF.alice.ogg", want)
	if got := mustRead(t, s, "01ABCD/01ABCDEF.alice.ogg"); !bytes.Equal(got, want) {
		t.Errorf("content = %q, want %q", got, want)
	}
}

func testEmptyObject(t *testing.T, s Store) {
	mustPut(t, s, "empty.ogg", nil)
	if got := mustRead(t, s, "empty.ogg"); len(got) != 0 {
		t.Errorf("content = %q, want empty", got)
	}
}

func testReplace(t *testing.T, s Store) {
	mustPut(t, s, "a/b.ogg", []byte("first version, longer"))
	mustPut(t, s, "a/b.ogg", []byte("second"))
	if got := mustRead(t, s, "a/b.ogg"); string(got) != "second" {
		t.Errorf("content = %q, want %q", got, "second")
	}
}

func testAbortLeavesNothing(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, "a/aborted.ogg")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if _, _, err := s.Open(ctx, "a/aborted.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Abort: got %v, want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s Store) {
	ctx := context.Background()
	mustPut(t, s, "a/gone.ogg", []byte("x"))
	mustPut(t, s, "a/kept.ogg", []byte("y"))
	if err := s.Delete(ctx, "a/gone.ogg"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := s.Open(ctx, "a/gone.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "a/gone.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: got %v, want ErrNotFound", err)
	}
	if got := mustRead(t, s, "a/kept.ogg"); string(got) != "y" {
		t.Errorf("other object after Delete = %q, want %q", got, "y")
	}
}

func testNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	if _, _, err := s.Open(ctx, "no/such.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open: got %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "no/such.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete: got %v, want ErrNotFound", err)
	}
}

func testInvalidKeys(t *testing.T, s Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "a/../b", "a//b", ".tmp/x", ".check-1", "a/b c", "a\\b"} {
		if _, err := s.Create(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Create(%q): got %v, want ErrInvalidKey", key, err)
		}
		if _, _, err := s.Open(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Open(%q): got %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("Delete(%q): got %v, want ErrInvalidKey", key, err)
		}
	}
}

func testWriterClosed(t *testing.T, s Store) {
	ctx := context.Background()
	w, err := s.Create(ctx, "closed.ogg")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	w.Write([]byte("x"))
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := w.Commit(ctx); err == nil {
		t.Error("second Commit: got nil error, want an error")
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: got %v, want nil", err)
	}
	if got := mustRead(t, s, "closed.ogg"); string(got) != "x" {
		t.Errorf("content after Abort = %q, want %q", got, "x")
	}
}

// largeObjectSize is over twice the 5 MiB S3 part size, so S3 uploads it
// in three parts.
const largeObjectSize = 12 << 20

func testLargeObject(t *testing.T, s Store) {
	want := randomBytes(largeObjectSize)
	mustPut(t, s, "big/long.ogg", want)
	got := mustRead(t, s, "big/long.ogg")
	if !bytes.Equal(got, want) {
		t.Errorf("content differs: got %d bytes, want %d", len(got), len(want))
	}
}

func testCheck(t *testing.T, s Store) {
	if err := s.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func mustPut(t *testing.T, s Store, key string, content []byte) {
	t.Helper()
	if err := Put(context.Background(), s, key, bytes.NewReader(content)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// mustRead opens key, reads it whole and checks the reported size.
func mustRead(t *testing.T, s Store, key string) []byte {
	t.Helper()
	r, size, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	if size != int64(len(got)) {
		t.Errorf("Open(%q) size = %d, want %d (bytes read)", key, size, len(got))
	}
	return got
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testList(t *testing.T, s Store) {
	ctx := context.Background()
	want := map[string]int64{"01AB/one.ogg": 3, "01AB/two.ogg": 5, "01CD/three.ogg": 0}
	for key, size := range want {
		mustPut(t, s, key, make([]byte, size))
	}
	w, err := s.Create(ctx, "01EF/uncommitted.ogg")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer w.Abort()
	w.Write([]byte("partial"))
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}

	got := map[string]int64{}
	err = s.List(ctx, "", func(o Object) error {
		got[o.Key] = o.Size
		if age := time.Since(o.ModTime); age < -time.Minute || age > time.Hour {
			t.Errorf("object %q modified %v ago, want about now", o.Key, age)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("List returned %d objects %v, want %d %v", len(got), got, len(want), want)
	}
	for key, size := range want {
		if n, ok := got[key]; !ok || n != size {
			t.Errorf("List: object %q size %d (listed %v), want size %d", key, n, ok, size)
		}
	}
}

func testListStops(t *testing.T, s Store) {
	for _, key := range []string{"a/1.ogg", "a/2.ogg", "b/3.ogg"} {
		mustPut(t, s, key, []byte("x"))
	}
	stop := errors.New("stop")
	calls := 0
	err := s.List(context.Background(), "", func(Object) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List: got %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("callback ran %d times, want 1", calls)
	}
}

func testListPrefix(t *testing.T, s Store) {
	keys := []string{"aa11/01AB/one.ogg", "aa11/01CD/two.ogg", "aa112/01AB/three.ogg", "bb22/01AB/four.ogg", "01AB/five.ogg"}
	for _, key := range keys {
		mustPut(t, s, key, []byte("x"))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", keys},
		{"aa11/", []string{"aa11/01AB/one.ogg", "aa11/01CD/two.ogg"}},
		{"aa11", []string{"aa11/01AB/one.ogg", "aa11/01CD/two.ogg", "aa112/01AB/three.ogg"}},
		{"aa11/01C", []string{"aa11/01CD/two.ogg"}},
		{"cc33/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			got := map[string]bool{}
			err := s.List(context.Background(), tt.prefix, func(o Object) error {
				got[o.Key] = true
				return nil
			})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d objects %v, want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for _, key := range tt.want {
				if !got[key] {
					t.Errorf("got no object %q, want it listed", key)
				}
			}
		})
	}
}
