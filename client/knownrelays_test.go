package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	fpA = "sha256:" + strings.Repeat("a", 64)
	fpB = "sha256:" + strings.Repeat("b", 64)
)

func TestParseKnownRelays(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []KnownRelay
		wantErr string
	}{
		{name: "empty"},
		{
			name: "entries comments and blanks",
			data: "# pins\n\n127.0.0.1:4433 " + fpA + "\n  [::1]:1\t" + fpB + "  \n",
			want: []KnownRelay{
				{Addr: "127.0.0.1:4433", Fingerprint: fpA, Line: 3},
				{Addr: "[::1]:1", Fingerprint: fpB, Line: 4},
			},
		},
		{name: "missing fingerprint", data: "127.0.0.1:4433\n", wantErr: "line 1"},
		{name: "extra field", data: "\na:1 " + fpA + " x\n", wantErr: "line 2"},
		{name: "upper-case hex", data: "a:1 sha256:" + strings.Repeat("A", 64), wantErr: "line 1"},
		{name: "short hex", data: "a:1 sha256:abcd", wantErr: "line 1"},
		{name: "other hash", data: "a:1 md5:" + strings.Repeat("a", 64), wantErr: "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKnownRelays([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKnownRelays: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestKnownRelaysPinning(t *testing.T) {
	k := &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}
	pinned, err := k.Verify("127.0.0.1:4433", fpA)
	if err != nil || pinned {
		t.Fatalf("got pinned %v, error %v before any pin, want false, nil", pinned, err)
	}
	if err := k.Add("127.0.0.1:4433", fpA); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := k.Add("127.0.0.1:5555", fpB); err != nil {
		t.Fatalf("Add: %v", err)
	}
	pinned, err = k.Verify("127.0.0.1:4433", fpA)
	if err != nil || !pinned {
		t.Fatalf("got pinned %v, error %v for the pinned key, want true, nil", pinned, err)
	}

	_, err = k.Verify("127.0.0.1:4433", fpB)
	var changed *KeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("got %v for a changed key, want *KeyChangedError", err)
	}
	msg := err.Error()
	for _, want := range []string{k.Path, "line 1", fpA, fpB, "delete line 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("got message %q, want it to contain %q", msg, want)
		}
	}
	info, err := os.Stat(k.Path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("got mode %o, want 600", perm)
	}
}

func TestKnownRelaysAddRejects(t *testing.T) {
	k := &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}
	for _, addr := range []string{"", "a b:1", "a:1\nx:2", "#a:1"} {
		if err := k.Add(addr, fpA); err == nil {
			t.Errorf("Add(%q): got no error, want one", addr)
		}
	}
	if err := k.Add("a:1", "sha256:zz"); err == nil {
		t.Error("Add with a bad fingerprint: got no error, want one")
	}
}

func TestKnownRelaysMalformedFile(t *testing.T) {
	k := &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}
	if err := os.WriteFile(k.Path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := k.Verify("a:1", fpA)
	if err == nil || !strings.Contains(err.Error(), k.Path) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("got %v, want an error naming the file and line 1", err)
	}
}

func FuzzParseKnownRelays(f *testing.F) {
	f.Add([]byte("127.0.0.1:4433 " + fpA + "\n# c\n"))
	f.Add([]byte("a b c\n\n"))
	f.Add([]byte{0xff, '\n', ' '})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseKnownRelays(data)
		if err != nil {
			return
		}
		var out strings.Builder
		for _, e := range entries {
			if !validFingerprint(e.Fingerprint) || e.Addr == "" || e.Line < 1 {
				t.Fatalf("got invalid entry %+v", e)
			}
			out.WriteString(e.Addr + " " + e.Fingerprint + "\n")
		}
		again, err := ParseKnownRelays([]byte(out.String()))
		if err != nil || len(again) != len(entries) {
			t.Fatalf("reparse: got %d entries and error %v, want %d entries", len(again), err, len(entries))
		}
	})
}
