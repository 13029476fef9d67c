package relay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the name of the lock file in the data directory. A running
// relay holds an exclusive flock on it and has written its pid into it.
const LockFile = "relay.lock"

// ErrDataDirInUse reports a data directory that another relay holds.
var ErrDataDirInUse = errors.New("data directory in use")

// dataDirInUseError names the data directory and the pid of the relay
// that holds it.
type dataDirInUseError struct {
	dir string
	pid string
}

func (e *dataDirInUseError) Error() string {
	return fmt.Sprintf("data directory %s is in use by another relay (pid %s): stop it or pass another --data", e.dir, e.pid)
}

func (e *dataDirInUseError) Unwrap() error { return ErrDataDirInUse }

// lockDataDir takes an exclusive flock on dir/LockFile and writes the
// process id into it. The lock lasts until the returned file is closed or
// the process ends, however it ends, so a lock file left behind by a
// killed relay never blocks the next one.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &dataDirInUseError{dir: dir, pid: lockHolder(f)}
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", path, err)
	}
	return f, nil
}

// writePID replaces the content of f with this process's id.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// lockHolder returns the pid written in a lock file, or "unknown".
func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid := strings.TrimSpace(string(b[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}
