package relay

import (
	"sync"
	"time"
)

// repeatLogInterval is the shortest time between two log lines about the
// same kind of rejection from one source.
const repeatLogInterval = 10 * time.Second

// repeatLog limits the log lines of a rejection that a client can repeat
// at will, such as a rate-limited request. The first rejection is logged,
// then at most one line per repeatLogInterval with the count since the
// last line, and a final line with the rest when the source goes away.
type repeatLog struct {
	mu      sync.Mutex
	logged  bool
	last    time.Time
	pending int
}

// note counts one rejection at now. It returns the count to log, and
// false when no line is due yet.
func (r *repeatLog) note(now time.Time) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending++
	if r.logged && now.Sub(r.last) < repeatLogInterval {
		return 0, false
	}
	n := r.pending
	r.logged, r.last, r.pending = true, now, 0
	return n, true
}

// flush returns the rejections counted since the last line and resets the
// count.
func (r *repeatLog) flush() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.pending
	r.pending = 0
	return n
}
