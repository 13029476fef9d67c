package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for vmbench when the fanout
// command re-executes itself as the forwarder.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "forwarder" {
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		if err := run(context.Background(), os.Args[1:], os.Stdout, log); err != nil {
			log.Error("forwarder failed", "err", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFanoutSmoke runs the fanout command against the real relay with
// three listeners. It checks delivery and the output format, never
// timing.
func TestFanoutSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the relay")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	args := []string{"fanout", "--listeners", "3", "--seconds", "2", "--forwarder", "--json"}
	if err := run(ctx, args, &out, log); err != nil {
		t.Fatalf("fanout: %v\noutput:\n%s", err, out.String())
	}
	text, js, ok := strings.Cut(out.String(), "\n{")
	if !ok {
		t.Fatalf("no JSON report in output:\n%s", out.String())
	}
	lines := map[string]map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		if f := resultFields(line); f != nil {
			lines[f["system"]] = f
		}
	}
	for _, system := range []string{"vm", "forwarder"} {
		f := lines[system]
		if f == nil {
			t.Fatalf("no RESULT line for %s in output:\n%s", system, text)
		}
		if f["delivered_ratio"] != "1.00000" {
			t.Errorf("%s delivered_ratio = %s, want 1.00000", system, f["delivered_ratio"])
		}
		if f["listeners"] != "3" {
			t.Errorf("%s listeners = %s, want 3", system, f["listeners"])
		}
	}
	if !strings.Contains(text, "RATIO listeners=3 vm/forwarder ") {
		t.Errorf("no RATIO line for the forwarder in output:\n%s", text)
	}
	var rep report
	if err := json.Unmarshal([]byte("{"+js), &rep); err != nil {
		t.Fatalf("parse JSON report: %v", err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("JSON report has %d results, want 2", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Delivered != r.Expected || r.Expected != 3*2*50 {
			t.Errorf("%s delivered %d of %d, want %d of %d", r.System, r.Delivered, r.Expected, 300, 300)
		}
	}
}

// resultFields returns the key=value fields of a RESULT line, or nil.
func resultFields(line string) map[string]string {
	rest, ok := strings.CutPrefix(line, "RESULT ")
	if !ok {
		return nil
	}
	f := map[string]string{}
	for _, kv := range strings.Fields(rest) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

func TestParseMurmurResult(t *testing.T) {
	line := `RESULT label=murmur-1.3 transport=udp listeners=20 connected=20 pps=50 payload=60 seconds=20 sent=1000 delivered=20000 expected=20000 delivered_ratio=1.00000 p50_ms=0.300 p99_ms=0.830 p999_ms=2.000 max_ms=4.500 mean_ms=0.350 murmur_cpu_us_per_delivery=9.000 murmur_cpu_s=0.18 murmur_sched_us_per_delivery=9.100 cpu_window_s=21.00 client_cpu_s=1.00 host_other_cpu_s=4.00 pre_load_cores=0.50 quiet_wait_s=0.0 via_udp=20 via_tcp=0 dups=0 bad_udp=0 disconnected=0 kicked=0 send_lag_max_ms=1.00 connect_s=1.0 server="1.3.4 x"`
	r, err := parseMurmurResult(line)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if r.Listeners != 20 || r.Delivered != 20000 || r.P99ms != 0.83 || r.CPUusPerDelivery != 9 {
		t.Errorf("parsed %+v", r)
	}
}
