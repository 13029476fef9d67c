package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fillDisk writes a file in dir that leaves about keep bytes free on its
// file system, and returns a function that removes it.
func fillDisk(t *testing.T, dir string, keep uint64) func() {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if free <= keep {
		t.Fatalf("only %d bytes free in %s, want more than %d", free, dir, keep)
	}
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, free-keep), 0o600); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDataDirNearlyFull fills the file system that holds the whole data
// directory, metadata included. The relay must refuse every write with a
// clear error before JetStream itself runs out of space, report the disk
// in /healthz, and take every kind of write again once space is freed,
// without a restart.
func TestDataDirNearlyFull(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	mountTmpfs(t, data, "24m")
	relay := startRelay(t, data, "--http-listen", "127.0.0.1:0")
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	id := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))

	unfill := fillDisk(t, data, 256<<10)
	checkFailure(t, vm(t, alice, "send", speechFile, "--to", "@bob"), "disk is full")
	checkFailure(t, vm(t, alice, "channel", "create", "ops"), "disk is full")
	checkHealth(t, relay, http.StatusServiceUnavailable, "disk")

	unfill()
	checkHealth(t, relay, http.StatusOK, "ok")
	mustVM(t, alice, "channel", "create", "ops")
	mustVM(t, bob, "channel", "join", "ops")
	id2 := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "#ops"))
	checkAcked(t, bob, []string{id, id2})
	// A plain fetch moves bob's delivery cursors, a metadata write.
	fetchFiles(t, bob, t.TempDir())
	if again := fetchFiles(t, bob, t.TempDir()); len(again) != 0 {
		t.Errorf("fetch after the cursor moved wrote %v, want nothing", again)
	}
}
