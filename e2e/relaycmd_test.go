package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vm-voice/vm/audio"
)

func TestSecondRelayOnDataDirRefused(t *testing.T) {
	data := t.TempDir()
	first := startRelay(t, data)
	out, err := execRelay(t, "serve", "--listen", "127.0.0.1:0", "--data", data)
	if err == nil {
		t.Fatalf("second relay on %s: got exit 0, want failure:\n%s", data, out)
	}
	pid := first.cmd.Process.Pid
	want := "relay: data directory " + data + " is in use by another relay (pid " + strconv.Itoa(pid) + "): stop it or pass another --data\n"
	if out != want {
		t.Errorf("second relay: got %q, want %q", out, want)
	}
	// Invites are files, so relay invite works beside the running relay.
	if out, err := execRelay(t, "invite", "--data", data); err != nil {
		t.Errorf("relay invite beside a running relay: %v\n%s", err, out)
	}
}

func TestRelayVersion(t *testing.T) {
	out, err := execRelay(t, "version")
	if err != nil {
		t.Fatalf("relay version: %v\n%s", err, out)
	}
	if want := "relay " + buildVersion + " "; !strings.HasPrefix(out, want) {
		t.Errorf("relay version: got %q, want it to start with %q", out, want)
	}

	relay := startRelay(t, t.TempDir())
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	mustVM(t, alice, "send", speechFile, "--to", "@bob")
	files := fetchFiles(t, bob, t.TempDir())
	if len(files) != 1 {
		t.Fatalf("bob fetched %v, want one file", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, err := audio.ReadOggOpus(f, 64<<20)
	if err != nil {
		t.Fatalf("read %s: %v", files[0], err)
	}
	if want := "vm relay " + buildVersion; info.Vendor != want {
		t.Errorf("Ogg vendor: got %q, want %q", info.Vendor, want)
	}
}
