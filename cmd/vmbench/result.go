package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// Result is the outcome of one run of one system at one listener count.
type Result struct {
	System    string  `json:"system"`
	Listeners int     `json:"listeners"`
	PPS       int     `json:"pps"`
	Sent      int     `json:"sent"`
	Delivered int64   `json:"delivered"`
	Expected  int64   `json:"expected"`
	Ratio     float64 `json:"delivered_ratio"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
	Maxms     float64 `json:"max_ms"`
	// Late counts measured datagrams that arrived more than 60 ms after
	// they were sent.
	Late int64 `json:"late"`
	// CPUusPerDelivery is the server process's utime+stime over the
	// measured window and drain, divided by the datagrams delivered.
	CPUusPerDelivery float64 `json:"cpu_us_per_delivery"`
	// SchedUsPerDelivery is the same from the threads' schedstat.
	SchedUsPerDelivery float64 `json:"sched_us_per_delivery"`
	CPUSeconds         float64 `json:"cpu_s"`
	// BenchCPUSeconds is this process's own CPU time over the window;
	// near the window's length times the core count, the bench itself
	// limits the figures.
	BenchCPUSeconds float64 `json:"bench_cpu_s"`
	WindowSeconds   float64 `json:"window_s"`
	SendLagMaxms    float64 `json:"send_lag_max_ms"`
	Dups            int64   `json:"dups"`
	Load            string  `json:"loadavg"`
}

// newResult computes the result of a run from its recorder and window.
func newResult(system string, p plan, rec *recorder, w window, load string) Result {
	lat := rec.latencies()
	r := Result{
		System: system, Listeners: p.listeners, PPS: p.pps, Sent: p.measuredFrames(),
		Delivered: int64(len(lat)), Expected: p.expected(),
		CPUSeconds: w.cpu.stat.Seconds(), BenchCPUSeconds: w.benchCPU.Seconds(),
		WindowSeconds: w.wall.Seconds(), SendLagMaxms: ms(w.sendLagMax),
		Dups: rec.dups.Load(), Load: load,
	}
	if r.Expected > 0 {
		r.Ratio = float64(r.Delivered) / float64(r.Expected)
	}
	if len(lat) == 0 {
		return r
	}
	r.P50ms, r.P99ms, r.P999ms = ms(quantile(lat, 0.50)), ms(quantile(lat, 0.99)), ms(quantile(lat, 0.999))
	r.Maxms = ms(lat[len(lat)-1])
	for i := len(lat) - 1; i >= 0 && lat[i] > lateAfter; i-- {
		r.Late++
	}
	r.CPUusPerDelivery = float64(w.cpu.stat.Microseconds()) / float64(len(lat))
	r.SchedUsPerDelivery = float64(w.cpu.sched.Microseconds()) / float64(len(lat))
	return r
}

// quantile returns the q-quantile of sorted, by the nearest-rank method.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// String formats r as one RESULT line of key=value fields.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT system=%s listeners=%d pps=%d sent=%d delivered=%d expected=%d delivered_ratio=%.5f",
		r.System, r.Listeners, r.PPS, r.Sent, r.Delivered, r.Expected, r.Ratio)
	fmt.Fprintf(&b, " p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f late=%d", r.P50ms, r.P99ms, r.P999ms, r.Maxms, r.Late)
	fmt.Fprintf(&b, " cpu_us_per_delivery=%.3f sched_us_per_delivery=%.3f cpu_s=%.2f bench_cpu_s=%.2f window_s=%.2f",
		r.CPUusPerDelivery, r.SchedUsPerDelivery, r.CPUSeconds, r.BenchCPUSeconds, r.WindowSeconds)
	fmt.Fprintf(&b, " send_lag_max_ms=%.2f dups=%d loadavg=%s", r.SendLagMaxms, r.Dups, r.Load)
	return b.String()
}

// Ratio compares the relay with another system at one listener count:
// each field is the relay's figure divided by the other's, so below 1
// means the relay did better.
type Ratio struct {
	Listeners int     `json:"listeners"`
	Versus    string  `json:"versus"`
	P50       float64 `json:"p50"`
	P99       float64 `json:"p99"`
	Max       float64 `json:"max"`
	CPU       float64 `json:"cpu_per_delivery"`
}

func newRatio(vm, other Result) Ratio {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return Ratio{
		Listeners: vm.Listeners, Versus: other.System,
		P50: div(vm.P50ms, other.P50ms), P99: div(vm.P99ms, other.P99ms),
		Max: div(vm.Maxms, other.Maxms), CPU: div(vm.CPUusPerDelivery, other.CPUusPerDelivery),
	}
}

// String formats q as one RATIO line.
func (q Ratio) String() string {
	return fmt.Sprintf("RATIO listeners=%d vm/%s p50=%.2f p99=%.2f max=%.2f cpu_per_delivery=%.2f",
		q.Listeners, q.Versus, q.P50, q.P99, q.Max, q.CPU)
}

// report is the whole output of a fanout or capacity command.
type report struct {
	Machine string   `json:"machine"`
	Results []Result `json:"results"`
	Ratios  []Ratio  `json:"ratios"`
}

// writeJSON writes rep as indented JSON.
func writeJSON(w io.Writer, rep report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}
