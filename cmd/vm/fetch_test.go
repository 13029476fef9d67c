package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/relay"
)

func TestFetchErrors(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	for range 3 {
		alice.must("send", speechFile, "--to", "@bob")
	}
	notDir := filepath.Join(t.TempDir(), "afile")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "out is a file", args: []string{"--out", notDir},
			want: "write to output directory " + notDir + ": mkdir " + notDir + ": not a directory: pass --out a writable directory"},
		{name: "unknown user", args: []string{"--to", "@nobody", "--out", t.TempDir()}, want: "unknown user @nobody"},
		{name: "unknown channel", args: []string{"--to", "#nochan", "--out", t.TempDir()}, want: "channel #nochan not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bob.run(nil, append([]string{"fetch"}, tt.args...)...)
			if r.code != exitError {
				t.Errorf("got exit %d, want %d", r.code, exitError)
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("got %d lines on stderr, want 1: %q", n, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", r.stderr, tt.want)
			}
			if n := strings.Count(r.stderr, "vm:"); n != 1 {
				t.Errorf("got the error %d times, want once: %q", n, r.stderr)
			}
		})
	}
	// The failed runs moved no cursor, so every message is still new.
	if r := bob.must("fetch", "--out", t.TempDir()); strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("fetch after the failures: got %q, want 3 paths", r.stdout)
	}
}

func TestSendChecksIdentityFirst(t *testing.T) {
	for _, relayAddr := range []string{"", "127.0.0.1:9"} {
		v := newVM(t, relayAddr)
		r := v.run(nil, "send", speechFile, "--to", "@bob")
		if r.code == exitOK {
			t.Fatalf("relay %q: got exit 0, want failure", relayAddr)
		}
		if want := "no identity in " + v.home + ": run vm init"; !strings.Contains(r.stderr, want) {
			t.Errorf("relay %q: got stderr %q, want it to contain %q", relayAddr, r.stderr, want)
		}
	}
}

func TestSendRejectsLongWAVHeader(t *testing.T) {
	srv := startRelay(t, relay.Config{MaxMessageDuration: 2 * time.Second})
	alice := user(t, srv, "alice")
	user(t, srv, "bob")
	// A header of one hour of 48 kHz stereo followed by one second of
	// samples: the length the header declares is enough to reject it.
	hdr := []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00")
	hdr = binary.LittleEndian.AppendUint16(hdr, 1)
	hdr = binary.LittleEndian.AppendUint16(hdr, 2)
	hdr = binary.LittleEndian.AppendUint32(hdr, 48000)
	hdr = binary.LittleEndian.AppendUint32(hdr, 48000*4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 16)
	hdr = append(hdr, "data"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 3600*48000*4)
	path := filepath.Join(t.TempDir(), "hour.wav")
	if err := os.WriteFile(path, append(hdr, make([]byte, 48000*4)...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := alice.run(nil, "send", path, "--to", "@bob")
	if r.code != exitError {
		t.Errorf("got exit %d, want %d", r.code, exitError)
	}
	if want := "hour.wav lasts 1h0m0s, longer than the relay's limit of 2s"; !strings.Contains(r.stderr, want) {
		t.Errorf("got stderr %q, want it to contain %q", r.stderr, want)
	}
}
