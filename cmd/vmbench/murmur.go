package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runMurmur runs the murmur benchmark script once for plan p and returns
// the Result of each RESULT line it prints. The script starts its own
// murmur on a loopback port and measures it with the same load.
func runMurmur(ctx context.Context, log *slog.Logger, script string, p plan) ([]Result, error) {
	// Installing the server, the quiet wait and the connection phase
	// come on top of the measured window.
	ctx, cancel := context.WithTimeout(ctx, p.duration()+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(),
		"MB_NS="+strconv.Itoa(p.listeners), "MB_SECONDS="+strconv.Itoa(p.seconds),
		"MB_PPS="+strconv.Itoa(p.pps), "MB_PAYLOAD="+strconv.Itoa(p.payload),
		"MB_TRANSPORTS=udp", "MB_REPEAT=1", "MB_QUIET_WAIT=10s")
	cmd.Stderr = os.Stderr
	// SIGTERM lets the script stop its murmur and remove its files.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	log.Info("running murmur benchmark", "script", script, "listeners", p.listeners)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", script, err)
	}
	var results []Result
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		// The script prints each line twice: as the run ends and in its
		// summary.
		if !strings.HasPrefix(line, "RESULT ") || seen[line] {
			continue
		}
		seen[line] = true
		r, err := parseMurmurResult(line)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("%s printed no RESULT line", script)
	}
	return results, nil
}

// parseMurmurResult reads the fields of one murmur RESULT line.
func parseMurmurResult(line string) (Result, error) {
	kv := map[string]string{}
	for _, f := range strings.Fields(line)[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	var firstErr error
	num := func(k string) float64 {
		v, err := strconv.ParseFloat(kv[k], 64)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("parse murmur result field %s=%q: %w", k, kv[k], err)
		}
		return v
	}
	r := Result{
		System: "murmur", Listeners: int(num("listeners")), PPS: int(num("pps")), Sent: int(num("sent")),
		Delivered: int64(num("delivered")), Expected: int64(num("expected")), Ratio: num("delivered_ratio"),
		P50ms: num("p50_ms"), P99ms: num("p99_ms"), P999ms: num("p999_ms"), Maxms: num("max_ms"),
		CPUusPerDelivery: num("murmur_cpu_us_per_delivery"), SchedUsPerDelivery: num("murmur_sched_us_per_delivery"),
		CPUSeconds: num("murmur_cpu_s"), BenchCPUSeconds: num("client_cpu_s"), WindowSeconds: num("cpu_window_s"),
		SendLagMaxms: num("send_lag_max_ms"), Dups: int64(num("dups")),
		Load: fmt.Sprintf("pre_load_cores=%s", kv["pre_load_cores"]),
	}
	return r, firstErr
}
