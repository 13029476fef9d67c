package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults for the liveness fields of Options. The client sends a QUIC
// PING when no packet arrived for DefaultKeepAlivePeriod, and the relay's
// acknowledgement is the reply. QUIC closes a connection after
// DefaultIdleTimeout without any packet; the relay uses the same value,
// and QUIC takes the smaller of the two peers' values. The trade-off: a
// dead relay or client is noticed within about 8 s rather than 30 s or
// more. The cost is one small packet each way every 2 s on an idle
// connection, and a network that drops every packet for 8 s ends the
// connection, which the engine then dials again.
const (
	DefaultKeepAlivePeriod = 2 * time.Second
	DefaultIdleTimeout     = 8 * time.Second
)

// arrivalSampleInterval is how often a Conn samples QUIC's count of
// received packets, so Silence is accurate to this interval.
const arrivalSampleInterval = 250 * time.Millisecond

// ErrRelayUnreachable is wrapped by errors of requests that the engine
// does not start because the relay sent no packet for longer than the
// keepalive allows.
var ErrRelayUnreachable = errors.New("the relay is unreachable")

// arrivalWatch tracks when the connection last received a packet, from
// samples of QUIC's received packet counter, since quic-go does not
// report the time of the last packet.
type arrivalWatch struct {
	mu      sync.Mutex
	packets uint64
	last    time.Time // time of the first sample that saw packets
	stale   bool      // staleness at the last sample, for logging changes
}

// observe records a sample of the received packet count at now and
// returns the time of the earliest sample that saw the current count.
func (w *arrivalWatch) observe(packets uint64, now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last.IsZero() || packets != w.packets {
		w.packets, w.last = packets, now
	}
	return w.last
}

// setStale records the staleness and reports whether it changed.
func (w *arrivalWatch) setStale(stale bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := w.stale != stale
	w.stale = stale
	return changed
}

// staleAfter returns how long a healthy connection may go without a
// packet: the relay's reply to a keepalive PING arrives one round trip
// after the period. Twice the period and twice the round trip leave room
// for one lost PING and its retransmission.
func staleAfter(keepAlive, rtt time.Duration) time.Duration {
	return 2*keepAlive + 2*rtt
}

// Silence returns how long ago the last packet from the relay arrived, to
// within a quarter second. stale reports that this is longer than the
// keepalive allows, so the relay or the network is down and RTT is out of
// date. QUIC ends the connection once the silence reaches its idle timeout.
func (c *Conn) Silence(now time.Time) (silence time.Duration, stale bool) {
	stats := c.qc.ConnectionStats()
	silence = max(now.Sub(c.arrivals.observe(stats.PacketsReceived, now)), 0)
	return silence, silence > staleAfter(c.opts.KeepAlivePeriod, stats.SmoothedRTT)
}

// checkReachable returns an error that wraps ErrRelayUnreachable when the
// connection is stale.
func (c *Conn) checkReachable(now time.Time) error {
	silence, stale := c.Silence(now)
	if !stale {
		return nil
	}
	return fmt.Errorf("%w: no reply for %s; vm reconnects when the relay responds", ErrRelayUnreachable,
		silence.Round(time.Second))
}

// watchArrivals samples the received packet count until the connection
// ends, and logs when the relay stops and starts responding.
func (c *Conn) watchArrivals(ctx context.Context) {
	t := time.NewTicker(arrivalSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			silence, stale := c.Silence(now)
			if !c.arrivals.setStale(stale) {
				continue
			}
			if stale {
				c.log.Warn("relay stopped responding", "silence", silence.Round(time.Millisecond))
			} else {
				c.log.Info("relay responds again")
			}
			if c.opts.staleChangedForTest != nil {
				c.opts.staleChangedForTest(stale)
			}
		}
	}
}
