package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// relayStartTimeout bounds the wait for the relay's listening line.
const relayStartTimeout = 60 * time.Second

// buildRelay builds cmd/relay into dir and returns the binary's path. It
// needs the working directory to be inside the vm module.
func buildRelay(ctx context.Context, log *slog.Logger, dir string) (string, error) {
	bin := filepath.Join(dir, "relay")
	log.Info("building relay", "out", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/vm-voice/vm/cmd/relay")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build relay (run vmbench inside the vm module or pass --relay-bin): %w", err)
	}
	return bin, nil
}

// relayProc is a relay process that this bench started.
type relayProc struct {
	cmd         *exec.Cmd
	addr        string
	fingerprint string
	dataDir     string
	log         *slog.Logger
	exited      chan struct{}
}

// startRelay starts bin serving on a free loopback port with a fresh data
// directory under dir, and waits for its listening line. Extra args go
// after the ones vmbench sets.
func startRelay(ctx context.Context, log *slog.Logger, bin, dir string, extra ...string) (*relayProc, error) {
	data, err := os.MkdirTemp(dir, "relay-data-")
	if err != nil {
		return nil, fmt.Errorf("create relay data directory: %w", err)
	}
	stderr, err := os.Create(filepath.Join(data, "..", filepath.Base(data)+".log"))
	if err != nil {
		return nil, fmt.Errorf("create relay log: %w", err)
	}
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("relay stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay %s: %w", bin, err)
	}
	stderr.Close()
	p := &relayProc{cmd: cmd, dataDir: data, log: log, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitListening(ctx, stdout); err != nil {
		p.stop()
		return nil, fmt.Errorf("%w (relay log: %s.log)", err, data)
	}
	log.Info("relay started", "pid", cmd.Process.Pid, "addr", p.addr)
	return p, nil
}

// waitListening reads the relay's stdout until the line
// "relay listening on ADDR fingerprint FP", then discards the rest.
func (p *relayProc) waitListening(ctx context.Context, stdout io.Reader) error {
	found := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		err := fmt.Errorf("relay exited before it printed its listening line")
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 6 && f[0] == "relay" && f[1] == "listening" && f[4] == "fingerprint" {
				p.addr, p.fingerprint = f[3], f[5]
				err = checkLoopback(p.addr)
				break
			}
		}
		found <- err
		io.Copy(io.Discard, stdout)
	}()
	timer := time.NewTimer(relayStartTimeout)
	defer timer.Stop()
	select {
	case err := <-found:
		return err
	case <-timer.C:
		return fmt.Errorf("relay did not listen within %s", relayStartTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *relayProc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 15 s for a clean exit, then kills the
// relay, and removes its data directory.
func (p *relayProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.log.Warn("relay did not stop within 15 s of SIGTERM, killing it", "pid", p.pid())
		p.cmd.Process.Kill()
		<-p.exited
	}
	os.RemoveAll(p.dataDir)
}
