package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpDir is the directory under a Disk root that holds uncommitted
// objects. It lives on the same file system as the objects, so a commit is
// one rename. Keys cannot name it because no key part starts with '.'.
const tmpDir = ".tmp"

// Disk is a Store that keeps each object as a file under a root
// directory. A commit writes a temporary file, fsyncs it, renames it to
// the key's path and fsyncs the directory, so a committed object survives
// a crash and a reader never sees a partial object.
type Disk struct {
	root string
}

// NewDisk returns a Disk store rooted at dir, creating dir if needed. It
// removes temporary files that uncommitted uploads left behind, so only
// one Disk may use a directory at a time.
func NewDisk(dir string) (*Disk, error) {
	tmp := filepath.Join(dir, tmpDir)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clean blob temp dir: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("create blob dir: %w", err)
	}
	return &Disk{root: dir}, nil
}

// Create opens a temporary file for the object. It does not block on I/O
// beyond creating that file.
func (d *Disk) Create(ctx context.Context, key string) (Writer, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("create blob %q: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Join(d.root, tmpDir), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("create blob %q: %w", key, err)
	}
	return &diskWriter{d: d, f: f, path: d.path(key)}, nil
}

// Open opens the object's file for reading.
func (d *Disk) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := CheckKey(key); err != nil {
		return nil, 0, fmt.Errorf("open blob %q: %w", key, err)
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("open blob %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open blob %q: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat blob %q: %w", key, err)
	}
	return f, st.Size(), nil
}

// Delete removes the object's file and fsyncs its directory.
func (d *Disk) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("delete blob %q: %w", key, err)
	}
	p := d.path(key)
	err := os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete blob %q: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

// Check writes, syncs and removes a small file in the temp directory.
func (d *Disk) Check(ctx context.Context) error {
	f, err := os.CreateTemp(filepath.Join(d.root, tmpDir), "check-*")
	if err != nil {
		return fmt.Errorf("check blob dir: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write([]byte("ok")); err != nil {
		return fmt.Errorf("check blob dir: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("check blob dir: %w", err)
	}
	return nil
}

func (d *Disk) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
}

// mkdirDurable creates dir and any missing parents below the root, and
// fsyncs the parent of every directory it creates.
func (d *Disk) mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if len(parent) > len(d.root) && strings.HasPrefix(parent, d.root) {
		if err := d.mkdirDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// diskWriter is an object being written to a temporary file.
type diskWriter struct {
	d    *Disk
	f    *os.File
	path string
	done bool
}

func (w *diskWriter) Write(p []byte) (int, error) {
	return w.f.Write(p)
}

func (w *diskWriter) Commit(ctx context.Context) error {
	if w.done {
		return errors.New("commit blob: writer already closed")
	}
	w.done = true
	if err := w.commit(); err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return fmt.Errorf("commit blob %s: %w", w.path, err)
	}
	return nil
}

func (w *diskWriter) commit() error {
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	dir := filepath.Dir(w.path)
	if err := w.d.mkdirDurable(dir); err != nil {
		return err
	}
	if err := os.Rename(w.f.Name(), w.path); err != nil {
		return err
	}
	return syncDir(dir)
}

func (w *diskWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
