package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vm-voice/vm/proto"
)

// The forwarder's wire format: a datagram whose first byte is
// forwarderRegister adds its source address to the targets and is
// acknowledged with forwarderAck; every other datagram is sent to every
// target. Voice frames never start with 'R', because their first byte
// holds flags of at most 0x07.
const (
	forwarderRegister = 'R'
	forwarderAck      = 'A'
	// maxForwarderTargets bounds the targets one forwarder accepts.
	maxForwarderTargets = 10000
)

// runForwarder is the forwarder subcommand: a plain UDP forwarder with
// one serial sendto loop and no encryption, the floor that the relay is
// compared with. It exits when its stdin closes or after --max-duration.
func runForwarder(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("forwarder", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "loopback UDP address to listen on")
	maxDuration := fs.Duration("max-duration", 30*time.Minute, "time after which the forwarder exits")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*listen); err != nil {
		return err
	}
	addr, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		return fmt.Errorf("resolve forwarder address %q: %w", *listen, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	defer conn.Close()
	fmt.Fprintf(out, "forwarder listening on %s\n", conn.LocalAddr())
	ctx, cancel := context.WithTimeout(ctx, *maxDuration)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	context.AfterFunc(ctx, func() { conn.Close() })
	return forwardLoop(ctx, conn, log)
}

// forwardLoop registers targets and forwards datagrams until conn closes.
func forwardLoop(ctx context.Context, conn *net.UDPConn, log *slog.Logger) error {
	var targets []*net.UDPAddr
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("forwarder read: %w", err)
		}
		if n > 0 && buf[0] == forwarderRegister {
			if len(targets) < maxForwarderTargets {
				targets = append(targets, from)
			}
			conn.WriteToUDP([]byte{forwarderAck}, from)
			continue
		}
		for _, t := range targets {
			if _, err := conn.WriteToUDP(buf[:n], t); err != nil {
				log.Debug("forwarder send failed", "to", t, "err", err)
			}
		}
	}
}

// forwarderProc is a forwarder child process.
type forwarderProc struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  *net.UDPAddr
	done  chan struct{}
}

// startForwarder starts this executable's forwarder subcommand.
func startForwarder(ctx context.Context) (*forwarderProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(exe, "forwarder", "--listen", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("forwarder stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("forwarder stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start forwarder: %w", err)
	}
	p := &forwarderProc{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	line, err := readLineTimeout(stdout, 10*time.Second)
	if err == nil {
		p.addr, err = parseForwarderLine(line)
	}
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func parseForwarderLine(line string) (*net.UDPAddr, error) {
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "forwarder listening on ")
	if !ok {
		return nil, fmt.Errorf("unexpected forwarder output %q", line)
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	return net.ResolveUDPAddr("udp", addr)
}

// readLineTimeout reads one line of r within timeout and discards the rest.
func readLineTimeout(r io.Reader, timeout time.Duration) (string, error) {
	ch := make(chan string, 1)
	go func() {
		br := bufio.NewReader(r)
		line, _ := br.ReadString('\n')
		ch <- line
		io.Copy(io.Discard, br)
	}()
	select {
	case line := <-ch:
		return line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no output line within %s", timeout)
	}
}

func (p *forwarderProc) pid() int { return p.cmd.Process.Pid }

// stop closes the forwarder's stdin, which ends it, and kills it if it
// has not exited within 5 s.
func (p *forwarderProc) stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// udpTalker sends voice frames to the forwarder.
type udpTalker struct {
	conn *net.UDPConn
	buf  []byte
}

func (t *udpTalker) send(seq uint32, p []byte, last bool) error {
	f := proto.Frame{Seq: seq, Timestamp: seq * proto.FrameSamples, Payload: p}
	if last {
		f.Flags |= proto.FlagLast
	}
	t.buf = proto.AppendFrame(t.buf[:0], &f)
	_, err := t.conn.Write(t.buf)
	return err
}

// runForwarderPlan measures plan p through a new forwarder process.
func runForwarderPlan(ctx context.Context, log *slog.Logger, p plan) (Result, error) {
	fp, err := startForwarder(ctx)
	if err != nil {
		return Result{}, err
	}
	defer fp.stop()
	clk := clock{base: time.Now()}
	rec := newRecorder(clk, p)
	var wg sync.WaitGroup
	socks, err := registerUDPListeners(ctx, fp.addr, p.listeners)
	defer func() {
		for _, s := range socks {
			s.Close()
		}
		wg.Wait()
	}()
	if err != nil {
		return Result{}, err
	}
	for i, s := range socks {
		wg.Go(func() { receiveUDP(s, i, rec) })
	}
	tc, err := net.DialUDP("udp", nil, fp.addr)
	if err != nil {
		return Result{}, fmt.Errorf("dial forwarder: %w", err)
	}
	defer tc.Close()
	load := loadAverage()
	w, err := drive(ctx, p, clk, &udpTalker{conn: tc}, rec, fp.pid())
	if err != nil {
		return Result{}, err
	}
	log.Debug("forwarder run done", "listeners", p.listeners)
	return newResult("forwarder", p, rec, w, load), nil
}

// registerUDPListeners opens n loopback UDP sockets and registers each
// with the forwarder, retrying a lost registration up to 5 times.
func registerUDPListeners(ctx context.Context, fwd *net.UDPAddr, n int) ([]*net.UDPConn, error) {
	socks := make([]*net.UDPConn, 0, n)
	for range n {
		s, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return socks, fmt.Errorf("open listener socket: %w", err)
		}
		socks = append(socks, s)
		if err := registerUDP(s, fwd); err != nil {
			return socks, err
		}
		if ctx.Err() != nil {
			return socks, ctx.Err()
		}
	}
	return socks, nil
}

func registerUDP(s *net.UDPConn, fwd *net.UDPAddr) error {
	buf := make([]byte, 16)
	for range 5 {
		if _, err := s.WriteToUDP([]byte{forwarderRegister}, fwd); err != nil {
			return fmt.Errorf("register with forwarder: %w", err)
		}
		s.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := s.ReadFromUDP(buf)
		if err == nil && n == 1 && buf[0] == forwarderAck {
			s.SetReadDeadline(time.Time{})
			return nil
		}
	}
	return errors.New("forwarder did not acknowledge a registration after 5 tries")
}

// receiveUDP hands each datagram of listener i to rec until s closes.
func receiveUDP(s *net.UDPConn, i int, rec *recorder) {
	buf := make([]byte, 2048)
	for {
		n, err := s.Read(buf)
		if err != nil {
			return
		}
		if n > proto.FrameHeaderSize {
			rec.record(i, buf[proto.FrameHeaderSize:n])
		}
	}
}
