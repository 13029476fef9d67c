// Package s3test starts a real S3 server for tests: versitygw serving a
// temporary directory through its posix backend on a loopback port.
//
// Tests that call Start are skipped when the versitygw binary is neither on
// PATH nor in $GOPATH/bin. Install it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package s3test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// InstallCommand is the command that installs the versitygw version these
// tests run against.
const InstallCommand = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// DefaultBucket is the name of the bucket that Start creates.
const DefaultBucket = "vm-test"

// startTimeout bounds how long Start waits for versitygw to respond to HTTP.
const startTimeout = 15 * time.Second

// Server is a running versitygw process. Its methods are safe for use by
// one test goroutine at a time.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Addr is the listen address, 127.0.0.1:PORT.
	Addr string
	// AccessKey and SecretKey are the root credentials, random per server.
	AccessKey string
	SecretKey string
	// Bucket is an existing, empty bucket.
	Bucket string
	// Dir is the posix backend's root: each subdirectory is a bucket and
	// each object is a file under its bucket's directory.
	Dir string

	t      testing.TB
	bin    string
	output *lockedBuffer
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs versitygw on a free loopback port with a fresh root directory
// that contains DefaultBucket, waits until it responds to HTTP, and stops it when
// the test ends. It skips the test when versitygw is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := findBinary()
	if bin == "" {
		t.Skipf("versitygw not found on PATH or in GOPATH/bin; install it with: %s", InstallCommand)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, DefaultBucket), 0o755); err != nil {
		t.Fatalf("create bucket dir: %v", err)
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatalf("pick free port: %v", err)
	}
	s := &Server{
		Endpoint:  "http://" + addr,
		Addr:      addr,
		AccessKey: randomKey(10),
		SecretKey: randomKey(20),
		Bucket:    DefaultBucket,
		Dir:       dir,
		t:         t,
		bin:       bin,
		output:    &lockedBuffer{},
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", s.output.String())
		}
	})
	s.Restart()
	return s
}

// Stop terminates the server and waits for it to exit. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart starts the server again on the same address and root directory
// and waits until it responds to HTTP. Restarting a running server stops it first.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	cmd := exec.Command(s.bin, "--quiet", "--port", s.Addr, "posix", s.Dir)
	// A minimal environment keeps the caller's VGW_* and AWS_* variables
	// from changing how the server runs.
	cmd.Env = []string{
		"HOME=" + s.Dir,
		"ROOT_ACCESS_KEY=" + s.AccessKey,
		"ROOT_SECRET_KEY=" + s.SecretKey,
	}
	cmd.Stdout = s.output
	cmd.Stderr = s.output
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd = cmd
	s.exited = exited
	if err := s.waitReady(); err != nil {
		s.Stop()
		s.t.Fatalf("start versitygw on %s: %v\noutput:\n%s", s.Addr, err, s.output.String())
	}
}

// waitReady polls the endpoint until any HTTP response arrives. An
// unsigned request gets 403 from versitygw, which is enough to show that
// it serves requests.
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("versitygw exited")
		default:
		}
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no HTTP response within %v", startTimeout)
}

// findBinary returns the path of versitygw on PATH or in the first GOPATH
// entry's bin directory, or "" when neither has it.
func findBinary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := filepath.SplitList(build.Default.GOPATH)
	if len(gopath) == 0 {
		return ""
	}
	p := filepath.Join(gopath[0], "bin", "versitygw")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	return ""
}

// freeAddr returns a loopback address whose port was free a moment ago.
// Another process may take the port before versitygw binds it. Then
// versitygw exits and Start usually fails, unless the other process
// responds to HTTP before the exit is seen.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// randomKey returns 2n random hex digits.
func randomKey(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lockedBuffer collects process output written from the exec package's
// copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
