package blob

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
)

// List walks the directory of prefix up to its last slash, or the root
// directory, skipping the temp directory and files whose paths are not
// valid keys.
func (d *Disk) List(ctx context.Context, prefix string, fn func(Object) error) error {
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = filepath.Join(d.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if e.Name() == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.root, path)
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		key := filepath.ToSlash(rel)
		if CheckKey(key) != nil || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list blobs under %s: %w", start, err)
	}
	return nil
}

// List pages through the objects under the store's prefix followed by
// prefix, one ListObjectsV2 request per 1000 keys, and strips the store's
// prefix from each key. Keys that are not valid keys, such as Check's
// probe objects, are skipped. A failed page is not retried.
func (s *S3) List(ctx context.Context, prefix string, fn func(Object) error) error {
	objects := s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true})
	for o := range objects {
		if o.Err != nil {
			return s.wrap("list blobs", "", o.Err)
		}
		key := strings.TrimPrefix(o.Key, s.prefix)
		if CheckKey(key) != nil {
			continue
		}
		if err := fn(Object{Key: key, Size: o.Size, ModTime: o.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}
