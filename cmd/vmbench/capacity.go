package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"
)

// runCapacity is the capacity command: one talker to many listeners at
// the nominal frame rate, then at --overload times that rate on the same
// connections. Raising the frame rate rather than the listener count
// keeps the setup, and the bench process's own connection count, the
// same for both loads.
func runCapacity(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	listeners := fs.Int("listeners", 3000, "listener connections")
	seconds := fs.Int("seconds", 20, "measured seconds per load, after 1 s of warm-up")
	pps := fs.Int("pps", 50, "nominal frames per second")
	payload := fs.Int("payload", 60, "Opus payload bytes per frame")
	overload := fs.Float64("overload", 1.5, "factor of the nominal frame rate for the second load; 0 skips it")
	maxUsers := fs.Int("max-users", 500, "listener users to register; further connections log in as one of them")
	relayBin := fs.String("relay-bin", "", "relay binary to run (default: go build cmd/relay into a temp dir)")
	relayArgs := fs.String("relay-args", "", "extra space-separated arguments for relay serve")
	asJSON := fs.Bool("json", false, "print the report as JSON after the RESULT lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	plans := []plan{{listeners: *listeners, pps: *pps, payload: *payload, seconds: *seconds}}
	if *overload > 0 {
		plans = append(plans, plans[0])
		plans[1].pps = int(float64(*pps)**overload + 0.5)
	}
	for _, p := range plans {
		if err := p.validate(); err != nil {
			return err
		}
	}
	if *maxUsers < 1 || *maxUsers > 1000 {
		return fmt.Errorf("invalid max users %d: use 1 to 1000", *maxUsers)
	}
	limit := 5*time.Minute + time.Duration(*listeners)*200*time.Millisecond + 2*plans[0].duration()*time.Duration(len(plans))
	defer startWatchdog(log, limit)()
	tmp, err := os.MkdirTemp("", "vmbench-")
	if err != nil {
		return fmt.Errorf("create temp directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := *relayBin
	if bin == "" {
		if bin, err = buildRelay(ctx, log, tmp); err != nil {
			return err
		}
	}
	rep := report{Machine: machine()}
	fmt.Fprintf(out, "MACHINE %s\n", rep.Machine)
	rep.Results, err = measureCapacity(ctx, log, bin, tmp, strings.Fields(*relayArgs), *maxUsers, plans)
	for _, r := range rep.Results {
		fmt.Fprintln(out, r)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(out, rep)
	}
	return nil
}

// measureCapacity sets up one relay and one swarm and measures each plan
// on them in turn.
func measureCapacity(ctx context.Context, log *slog.Logger, bin, tmp string, relayArgs []string, maxUsers int, plans []plan) ([]Result, error) {
	rp, err := startRelay(ctx, log, bin, tmp, relayArgs...)
	if err != nil {
		return nil, err
	}
	defer rp.stop()
	sw, err := newSwarm(ctx, log, rp, plans[0].listeners, maxUsers)
	if err != nil {
		return nil, err
	}
	defer sw.close()
	var results []Result
	for _, p := range plans {
		r, err := sw.measure(ctx, p)
		if err != nil {
			return results, fmt.Errorf("%d listeners at %d frames/s: %w", p.listeners, p.pps, err)
		}
		results = append(results, r)
	}
	return results, nil
}

func numCPU() int { return runtime.NumCPU() }
