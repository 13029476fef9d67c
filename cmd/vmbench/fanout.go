package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// fanoutOptions are the flags of the fanout command.
type fanoutOptions struct {
	listeners    []int
	seconds      int
	pps          int
	payload      int
	repeat       int
	maxUsers     int
	forwarder    bool
	murmur       bool
	murmurScript string
	relayBin     string
	relayArgs    string
	json         bool
}

func parseFanoutFlags(args []string) (fanoutOptions, error) {
	var o fanoutOptions
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	list := fs.String("listeners", "20,200,1000", "comma-separated listener counts, one run each")
	fs.IntVar(&o.seconds, "seconds", 20, "measured seconds per run, after 1 s of warm-up")
	fs.IntVar(&o.pps, "pps", 50, "frames the talker sends per second")
	fs.IntVar(&o.payload, "payload", 60, "Opus payload bytes per frame")
	fs.IntVar(&o.repeat, "repeat", 1, "runs per listener count and system")
	fs.IntVar(&o.maxUsers, "max-users", 500, "listener users to register; further connections log in as one of them")
	fs.BoolVar(&o.forwarder, "forwarder", false, "also measure the plain UDP forwarder in the same run")
	fs.BoolVar(&o.murmur, "murmur", false, "also run the murmur benchmark script for each listener count")
	fs.StringVar(&o.murmurScript, "murmur-script", "../shared/bench/mumble/run.sh", "path of the murmur benchmark script")
	fs.StringVar(&o.relayBin, "relay-bin", "", "relay binary to run (default: go build cmd/relay into a temp dir)")
	fs.StringVar(&o.relayArgs, "relay-args", "", "extra space-separated arguments for relay serve")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON after the RESULT lines")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for f := range strings.SplitSeq(*list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return o, fmt.Errorf("invalid listener count %q: use comma-separated integers", f)
		}
		o.listeners = append(o.listeners, n)
	}
	if o.repeat < 1 || o.repeat > 10 {
		return o, fmt.Errorf("invalid repeat %d: use 1 to 10", o.repeat)
	}
	if o.maxUsers < 1 || o.maxUsers > 1000 {
		return o, fmt.Errorf("invalid max users %d: use 1 to 1000", o.maxUsers)
	}
	return o, nil
}

func (o fanoutOptions) plan(n int) plan {
	return plan{listeners: n, pps: o.pps, payload: o.payload, seconds: o.seconds}
}

// timeLimit is the watchdog's limit: per run, setup time that grows with
// the listener count plus the run's timeline, plus the murmur script.
func (o fanoutOptions) timeLimit() time.Duration {
	var d time.Duration
	for _, n := range o.listeners {
		per := 2*time.Minute + time.Duration(n)*100*time.Millisecond + 2*o.plan(n).duration()
		if o.murmur {
			per += 15 * time.Minute
		}
		d += time.Duration(o.repeat) * per
	}
	return d + 5*time.Minute
}

// runFanout is the fanout command.
func runFanout(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	o, err := parseFanoutFlags(args)
	if err != nil {
		return err
	}
	for _, n := range o.listeners {
		if err := o.plan(n).validate(); err != nil {
			return err
		}
	}
	if err := checkPayloadShape(o.payload); err != nil {
		return err
	}
	defer startWatchdog(log, o.timeLimit())()
	tmp, err := os.MkdirTemp("", "vmbench-")
	if err != nil {
		return fmt.Errorf("create temp directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if o.relayBin == "" {
		if o.relayBin, err = buildRelay(ctx, log, tmp); err != nil {
			return err
		}
	}
	rep := report{Machine: machine()}
	fmt.Fprintf(out, "MACHINE %s\n", rep.Machine)
	for _, n := range o.listeners {
		for range o.repeat {
			results, err := o.runOne(ctx, log, tmp, n)
			if err != nil {
				return fmt.Errorf("%d listeners: %w", n, err)
			}
			rep.add(out, results)
		}
	}
	if o.json {
		return writeJSON(out, rep)
	}
	return nil
}

// runOne measures the relay, then the forwarder and murmur when their flags are set, at n
// listeners, one after the other.
func (o fanoutOptions) runOne(ctx context.Context, log *slog.Logger, tmp string, n int) ([]Result, error) {
	p := o.plan(n)
	vm, err := runRelayPlan(ctx, log, o.relayBin, tmp, strings.Fields(o.relayArgs), o.maxUsers, p)
	if err != nil {
		return nil, err
	}
	results := []Result{vm}
	if o.forwarder {
		r, err := runForwarderPlan(ctx, log, p)
		if err != nil {
			return nil, fmt.Errorf("forwarder: %w", err)
		}
		results = append(results, r)
	}
	if o.murmur {
		rs, err := runMurmur(ctx, log, o.murmurScript, p)
		if err != nil {
			return nil, fmt.Errorf("murmur: %w", err)
		}
		results = append(results, rs...)
	}
	return results, nil
}

// add prints results, the first of which is the relay's, and the ratios
// of the relay to each other system.
func (rep *report) add(out io.Writer, results []Result) {
	for _, r := range results {
		fmt.Fprintln(out, r)
	}
	for _, r := range results[1:] {
		q := newRatio(results[0], r)
		fmt.Fprintln(out, q)
		rep.Ratios = append(rep.Ratios, q)
	}
	rep.Results = append(rep.Results, results...)
}

// runRelayPlan starts a relay, sets up n listeners and measures plan p.
func runRelayPlan(ctx context.Context, log *slog.Logger, bin, tmp string, relayArgs []string, maxUsers int, p plan) (Result, error) {
	rp, err := startRelay(ctx, log, bin, tmp, relayArgs...)
	if err != nil {
		return Result{}, err
	}
	defer rp.stop()
	sw, err := newSwarm(ctx, log, rp, p.listeners, maxUsers)
	if err != nil {
		return Result{}, err
	}
	defer sw.close()
	return sw.measure(ctx, p)
}

// machine describes the host: CPU model, core count and load average.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("cpu=%q cores=%d loadavg=%s", model, numCPU(), loadAverage())
}
