package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/vm-voice/vm/proto/pb"
)

// minFreeBytes is the free space the relay keeps on the file systems of
// its metadata and of its disk blobs. The NATS file store (nats-server
// v2.15.3) keeps a stream's first write error and fails every later write
// to that stream until the relay restarts, as a disk-full test showed. So the relay refuses writes while the disk is
// nearly full, before JetStream itself runs out of space.
const minFreeBytes = 512 << 10

// spaceDirs returns the directories whose file systems checkSpace watches.
func (s *Server) spaceDirs() []string {
	dirs := []string{filepath.Join(s.cfg.DataDir, "nats")}
	if s.cfg.Store == "" || s.cfg.Store == StoreDisk {
		dirs = append(dirs, filepath.Join(s.cfg.DataDir, "blobs"))
	}
	return dirs
}

// checkSpace returns an UNAVAILABLE error naming the directory when one
// of spaceDirs has less than minFreeBytes free. A directory it cannot
// stat is left to the stores' own checks.
func (s *Server) checkSpace() error {
	for _, dir := range s.spaceDirs() {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			continue
		}
		if free := st.Bavail * uint64(st.Bsize); free < minFreeBytes {
			return &Error{
				Code: pb.ErrorCode_ERROR_CODE_UNAVAILABLE,
				Msg:  "relay storage unavailable: the relay's disk is full",
				cause: fmt.Errorf("%s has %d KiB free, below the %d KiB the relay keeps free",
					dir, free>>10, minFreeBytes>>10),
			}
		}
	}
	return nil
}

// writesStore reports whether req changes stored state, so that it must
// wait while the disk is nearly full.
func writesStore(req *pb.Request) bool {
	switch req.Body.(type) {
	case *pb.Request_Upload, *pb.Request_Register, *pb.Request_CreateChannel,
		*pb.Request_JoinChannel, *pb.Request_LeaveChannel, *pb.Request_AckDelivery,
		*pb.Request_MarkListened:
		return true
	}
	return false
}

// withIDs adds the message id and conversation to the log line of a
// failed upload. It returns err unchanged when it is nil or not a
// protocol error.
func withIDs(err error, id, conv string) error {
	var e *Error
	if errors.As(err, &e) {
		e.attrs = append(e.attrs, "msg_id", id, "conv", conv)
	}
	return err
}

// logAttrs returns the log attributes a protocol error carries.
func logAttrs(err error) []any {
	var e *Error
	if errors.As(err, &e) {
		return append([]any(nil), e.attrs...)
	}
	return nil
}

// blobError returns the error of an upload whose blob writer cw may have
// failed. A write error of the store (disk full, read-only file system,
// I/O error) makes the upload fail as unavailable, so the client retries,
// whatever error the Ogg writer above it turned the failure into.
func blobError(cw *countingWriter, err error) error {
	if cw.err != nil {
		return unavailable("store message audio", cw.err)
	}
	return err
}

// healthState is the outcome of the last health check.
type healthState struct {
	mu     sync.Mutex
	failed string // the failing components, empty while healthy
}

// update records the outcome of a health check and reports whether it
// differs from the one before.
func (h *healthState) update(failed string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := h.failed != failed
	h.failed = failed
	return changed
}

// checkStores checks the metadata and blob stores and returns an error
// that names each failing one.
func (s *Server) checkStores(ctx context.Context) (failed string, err error) {
	var errs []error
	if err := s.checkSpace(); err != nil {
		failed = "disk"
		errs = append(errs, fmt.Errorf("disk: %w", errors.Unwrap(err)))
	}
	if err := s.meta.Check(ctx); err != nil {
		if failed != "" {
			failed += ","
		}
		failed += "metadata"
		errs = append(errs, fmt.Errorf("metadata store: %w", err))
	}
	if err := s.blobs.Check(ctx); err != nil {
		if failed != "" {
			failed += ","
		}
		failed += "blob"
		errs = append(errs, fmt.Errorf("blob store: %w", err))
	}
	return failed, errors.Join(errs...)
}

// serveHealth replies 200 "ok" when the metadata and blob stores work,
// and 503 naming the failing stores otherwise. It logs when a store
// starts failing and when it recovers, not on every check.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	failed, err := s.checkStores(ctx)
	changed := s.health.update(failed)
	if err != nil {
		if changed {
			s.log.Warn("store unavailable", "store", failed, "err", err)
		}
		http.Error(w, "unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if changed {
		s.log.Info("stores available again")
	}
	fmt.Fprintln(w, "ok")
}
