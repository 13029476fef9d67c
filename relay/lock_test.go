package relay

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestSecondRelayOnDataDir(t *testing.T) {
	dir := t.TempDir()
	first := startServer(t, Config{DataDir: dir})

	_, err := New(Config{Listen: "127.0.0.1:0", DataDir: dir}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second New: got error %v, want ErrDataDirInUse", err)
	}
	pid := strconv.Itoa(os.Getpid())
	for _, want := range []string{dir, "(pid " + pid + ")", "pass another --data"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second New: got %q, want it to contain %q", err, want)
		}
	}

	first.stop()
	second := startServer(t, Config{DataDir: dir})
	second.stop()
}

func TestLockFileContent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LockFile), []byte("99999999 left by a killed relay\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lockDataDir over a stale lock file: %v", err)
	}
	defer f.Close()
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("lock file content: got %q, want %q", got, want)
	}
}
