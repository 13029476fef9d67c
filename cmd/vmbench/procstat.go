package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// Linux fixes it at 100 on every architecture Go supports.
const clockTicks = 100

// cpuSample is the CPU time a process has used up to one moment.
type cpuSample struct {
	// stat is utime+stime from /proc/PID/stat, at 10 ms resolution.
	stat time.Duration
	// sched is the sum of the first field of /proc/PID/task/*/schedstat,
	// the run time of the live threads in nanoseconds. Threads that exit
	// take their share with them, so it is a cross-check only.
	sched time.Duration
}

// sub returns the CPU time used between before and s.
func (s cpuSample) sub(before cpuSample) cpuSample {
	return cpuSample{stat: s.stat - before.stat, sched: s.sched - before.sched}
}

// readCPU samples the CPU time of process pid.
func readCPU(pid int) (cpuSample, error) {
	stat, err := readStatCPU(pid)
	if err != nil {
		return cpuSample{}, err
	}
	return cpuSample{stat: stat, sched: readSchedCPU(pid)}, nil
}

// readStatCPU returns utime+stime of pid. The fields after the command
// name, which may contain spaces, start behind its closing parenthesis.
func readStatCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	// Fields from state (field 3) on; utime and stime are fields 14 and 15.
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields after the command name", pid, len(fields))
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: invalid utime %q or stime %q", pid, fields[11], fields[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// readSchedCPU returns the summed run time of pid's live threads, or 0
// when schedstat is not available.
func readSchedCPU(pid int) time.Duration {
	paths, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	var sum time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			sum += time.Duration(ns)
		}
	}
	return sum
}

// selfCPU returns the user and system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the first three fields of /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], "/")
}
