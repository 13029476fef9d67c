package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestDiskPutOpenDelete(t *testing.T) {
	ctx := context.Background()
	d, err := NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("OggS and more")
	if err := Put(ctx, d, "01ABCD/01ABCDEF.alice.ogg", bytes.NewReader(want)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	r, size, err := d.Open(ctx, "01ABCD/01ABCDEF.alice.ogg")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, want) || size != int64(len(want)) {
		t.Errorf("Open = %q (size %d), want %q", got, size, want)
	}
	if err := d.Delete(ctx, "01ABCD/01ABCDEF.alice.ogg"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := d.Open(ctx, "01ABCD/01ABCDEF.alice.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: %v, want ErrNotFound", err)
	}
}

func TestDiskAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.Create(context.Background(), "a/b.ogg")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, tmpDir))
	if len(entries) != 0 {
		t.Errorf("temp files after Abort = %d, want 0", len(entries))
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "b.ogg")); !os.IsNotExist(err) {
		t.Errorf("object after Abort: stat error %v, want not exist", err)
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want error
	}{
		{"ab/cd.ogg", nil},
		{"", ErrInvalidKey},
		{"/abs", ErrInvalidKey},
		{"a/../b", ErrInvalidKey},
		{"a//b", ErrInvalidKey},
		{".tmp/x", ErrInvalidKey},
		{"a/b c", ErrInvalidKey},
	}
	for _, tt := range tests {
		if got := CheckKey(tt.key); !errors.Is(got, tt.want) && got != tt.want {
			t.Errorf("CheckKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func FuzzCheckKey(f *testing.F) {
	f.Add("ab/cd.ogg")
	f.Add("../x")
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		clean := filepath.Clean(key)
		if clean != key || filepath.IsAbs(key) || clean == ".." || len(clean) > 2 && clean[:3] == "../" {
			t.Fatalf("CheckKey accepted %q, which leaves the root or is not clean", key)
		}
	})
}
