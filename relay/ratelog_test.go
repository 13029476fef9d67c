package relay

import (
	"testing"
	"time"
)

func TestRepeatLog(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		after time.Duration // since start
		count int
		log   bool
	}
	steps := []step{
		{0, 1, true},
		{time.Millisecond, 0, false},
		{2 * time.Millisecond, 0, false},
		{9 * time.Second, 0, false},
		{10 * time.Second, 4, true},
		{11 * time.Second, 0, false},
		{25 * time.Second, 2, true},
	}
	var r repeatLog
	for i, st := range steps {
		n, ok := r.note(start.Add(st.after))
		if n != st.count || ok != st.log {
			t.Errorf("step %d at %s: got %d, %v, want %d, %v", i, st.after, n, ok, st.count, st.log)
		}
	}
	r.note(start.Add(26 * time.Second))
	r.note(start.Add(27 * time.Second))
	if got := r.flush(); got != 2 {
		t.Errorf("flush: got %d, want 2", got)
	}
	if got := r.flush(); got != 0 {
		t.Errorf("second flush: got %d, want 0", got)
	}
}
