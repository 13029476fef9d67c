// Command vmbench measures the relay's live fan-out from outside: it runs
// the relay binary as its own process, drives one talker and N listener
// connections over loopback, and compares the relay with a plain UDP
// forwarder and, optionally, with a murmur server driven by an external
// script.
//
//	vmbench fanout --listeners 20,200,1000 --seconds 20 --forwarder --murmur
//	vmbench capacity --listeners 3000 --overload 1.5
//
// Every run has a bounded timeline (setup, 1 s unmeasured warm-up, the
// measured window, a drain of at most 2 s) and a watchdog that ends the
// process when a run overstays it. Only loopback addresses are accepted.
// The forwarder subcommand is the plain UDP forwarder that fanout starts
// as a child process; it is not meant to be run by hand.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "vmbench:", err)
		stop()
		os.Exit(1)
	}
}

// run dispatches to the subcommand named by args[0].
func run(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New("missing subcommand: use fanout, capacity or forwarder")
	}
	switch args[0] {
	case "fanout":
		return runFanout(ctx, args[1:], out, log)
	case "capacity":
		return runCapacity(ctx, args[1:], out, log)
	case "forwarder":
		return runForwarder(ctx, args[1:], out, log)
	}
	return fmt.Errorf("unknown subcommand %q: use fanout, capacity or forwarder", args[0])
}

// startWatchdog ends the process with exit status 2 once limit has passed,
// unless the returned function is called first. Child processes die with
// it because they are started with a parent-death signal.
func startWatchdog(log *slog.Logger, limit time.Duration) (stop func()) {
	t := time.AfterFunc(limit, func() {
		log.Error("watchdog: benchmark overran its time limit, exiting", "limit", limit)
		os.Exit(2)
	})
	return func() { t.Stop() }
}

// checkLoopback returns an error unless addr is an IP address on
// loopback with a port.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not on loopback: vmbench only talks to 127.0.0.1 or ::1", addr)
	}
	return nil
}
