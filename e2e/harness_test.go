package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds the vm and relay binaries that TestMain builds.
var binDir string

// buildVersion is the version TestMain builds into both binaries, set as
// scripts/build.sh sets it.
const buildVersion = "e2e-build"

// versionFlags sets the version variable that each binary prints.
var versionFlags = map[string]string{
	"vm":    "-X main.version=" + buildVersion,
	"relay": "-X github.com/vm-voice/vm/relay.Version=" + buildVersion,
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vm-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := build()
	if code == 0 {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func build() int {
	for _, name := range []string{"vm", "relay"} {
		cmd := exec.Command("go", "build", "-ldflags", versionFlags[name], "-o", filepath.Join(binDir, name), "../cmd/"+name)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", name, err)
			return 1
		}
	}
	return 0
}

// relayProc is a relay process started by a test.
type relayProc struct {
	cmd  *exec.Cmd
	Addr string
	// HTTP is the address of /healthz and /metrics when the relay was
	// started with --http-listen, else empty.
	HTTP string
	Data string
	log  *syncWriter
	done chan struct{}
}

var (
	listenLine = regexp.MustCompile(`^relay listening on (\S+)`)
	// httpLine comes before listenLine when the relay serves HTTP.
	httpLine = regexp.MustCompile(`^relay http listening on (\S+)`)
)

// startRelay starts `relay serve` on a free loopback port with its data
// in dir, waits until it listens, and stops it when the test ends.
func startRelay(t testing.TB, dir string, args ...string) *relayProc {
	t.Helper()
	return startRelayOn(t, dir, "127.0.0.1:0", args...)
}

func startRelayOn(t testing.TB, dir, listen string, args ...string) *relayProc {
	t.Helper()
	argv := append([]string{"serve", "--listen", listen, "--data", dir}, args...)
	cmd := exec.Command(filepath.Join(binDir, "relay"), argv...)
	p := &relayProc{cmd: cmd, Data: dir, log: &syncWriter{}, done: make(chan struct{})}
	cmd.Stderr = p.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := httpLine.FindStringSubmatch(sc.Text()); m != nil {
				p.HTTP = m[1]
			}
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	select {
	case p.Addr = <-addr:
	case <-p.done:
		t.Fatalf("relay exited before listening:\n%s", p.logText())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("relay did not listen within 20 s:\n%s", p.logText())
	}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Stop sends SIGTERM and waits for the relay to exit.
func (p *relayProc) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("relay did not stop within 15 s of SIGTERM:\n%s", p.logText())
	}
}

func (p *relayProc) logText() string {
	return p.log.String()
}

// syncWriter is a buffer that a process writes to while a test reads it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// result is the outcome of one vm command.
type result struct {
	Stdout, Stderr string
	Code           int
}

// vm runs the vm binary with --home home and returns its output.
func vm(t testing.TB, home string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{"--home", home}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "vm"), argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run vm %v: %v", args, err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// mustVM runs vm and fails the test unless it exits 0.
func mustVM(t testing.TB, home string, args ...string) string {
	t.Helper()
	r := vm(t, home, args...)
	if r.Code != 0 {
		t.Fatalf("vm %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// newUser makes an identity under a fresh home and registers handle.
func newUser(t testing.TB, relay *relayProc, handle string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), handle)
	mustVM(t, home, "init")
	mustVM(t, home, "register", handle, "--relay", relay.Addr)
	return home
}

// fetchFiles runs vm fetch into out and returns the paths it printed.
func fetchFiles(t testing.TB, home, out string, args ...string) []string {
	t.Helper()
	stdout := mustVM(t, home, append([]string{"fetch", "--out", out}, args...)...)
	return strings.Fields(stdout)
}

// execRelay runs the relay binary to completion and returns its output.
func execRelay(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "relay"), args...).CombinedOutput()
	return string(out), err
}
