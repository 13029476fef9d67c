package client

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// dueStub is a source whose next frame is due at a set time until it
// arrives.
type dueStub struct {
	mu      sync.Mutex
	at      time.Time
	arrived bool
}

func (s *dueStub) fill(time.Time, []float32) (ok, done bool) { return false, false }
func (s *dueStub) finished()                                 {}

func (s *dueStub) due() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at, !s.arrived
}

func TestPlayoutWaitDue(t *testing.T) {
	tests := []struct {
		name     string
		due      time.Duration // from the start of the wait
		arrive   time.Duration // when the frame arrives, 0 for never
		wantWait time.Duration
	}{
		{name: "due before deadline", due: 4 * time.Millisecond, wantWait: 4 * time.Millisecond},
		{name: "due after deadline", due: 15 * time.Millisecond, wantWait: maxPullDelay},
		{name: "already due", due: -time.Millisecond, wantWait: 0},
		{name: "frame arrives early", due: 8 * time.Millisecond, arrive: 3 * time.Millisecond, wantWait: 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPlayout(nil)
				start := time.Now()
				src := &dueStub{at: start.Add(tt.due)}
				p.add(src)
				if tt.arrive > 0 {
					time.AfterFunc(tt.arrive, func() {
						src.mu.Lock()
						src.arrived = true
						src.mu.Unlock()
						p.frameArrived()
					})
				}
				p.waitDue(context.Background(), start.Add(maxPullDelay))
				if got := time.Since(start); got != tt.wantWait {
					t.Errorf("waited %v, want %v", got, tt.wantWait)
				}
			})
		})
	}
}

func TestPlayoutWaitDueWithoutSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlayout(nil)
		start := time.Now()
		p.waitDue(context.Background(), start.Add(maxPullDelay))
		if got := time.Since(start); got != 0 {
			t.Errorf("waited %v with no source, want 0", got)
		}
	})
}
