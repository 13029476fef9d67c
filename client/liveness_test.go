package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/internal/lossproxy"
	"github.com/vm-voice/vm/proto"
)

func TestArrivalWatchTracksCountChanges(t *testing.T) {
	var w arrivalWatch
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		packets uint64
		at      time.Duration
		want    time.Duration // expected last arrival, as an offset from t0
	}{
		{packets: 5, at: 0, want: 0},
		{packets: 5, at: time.Second, want: 0},
		{packets: 6, at: 2 * time.Second, want: 2 * time.Second},
		{packets: 6, at: 7 * time.Second, want: 2 * time.Second},
		{packets: 9, at: 8 * time.Second, want: 8 * time.Second},
	}
	for _, s := range steps {
		if got := w.observe(s.packets, t0.Add(s.at)).Sub(t0); got != s.want {
			t.Errorf("observe(%d) at %s: last arrival at %s, want %s", s.packets, s.at, got, s.want)
		}
	}
}

func TestStaleAfterCoversKeepaliveReply(t *testing.T) {
	if got := staleAfter(DefaultKeepAlivePeriod, time.Millisecond); got <= DefaultKeepAlivePeriod || got >= DefaultIdleTimeout {
		t.Errorf("staleAfter on loopback = %s, want between the keepalive %s and the idle timeout %s",
			got, DefaultKeepAlivePeriod, DefaultIdleTimeout)
	}
	if slow, fast := staleAfter(DefaultKeepAlivePeriod, 500*time.Millisecond), staleAfter(DefaultKeepAlivePeriod, 0); slow <= fast {
		t.Errorf("staleAfter with a 500ms RTT = %s, want more than %s without", slow, fast)
	}
}

// proxiedEngine starts an engine that reaches srv through a proxy, which
// the test closes to make the relay fall silent. stale receives each
// change of the connection's staleness.
func proxiedEngine(t *testing.T) (e *Engine, proxy *lossproxy.Proxy, stale chan bool) {
	t.Helper()
	srv := startLiveRelay(t)
	proxy, err := lossproxy.Start(t.Context(), lossproxy.Config{Target: srv.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	stale = make(chan bool, 8)
	opt := EngineOptions{Paths: engineUser(t, srv, "alice"), Relay: proxy.Addr().String(), OpenPlayback: noSpeaker,
		OpenCapture: noMic, ReconnectBackoff: []time.Duration{time.Minute}}
	opt.Conn.staleChangedForTest = func(s bool) { stale <- s }
	return startEngine(t, opt), proxy, stale
}

func TestEngineReportsSilentRelay(t *testing.T) {
	e, proxy, stale := proxiedEngine(t)
	if st := e.Status(); st.Stale {
		t.Fatalf("status stale right after connecting: silence %s", st.Silence)
	}

	proxy.Close()
	select {
	case s := <-stale:
		if !s {
			t.Fatal("staleness changed to fresh while the relay was silent")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("connection not reported stale 30s after the relay fell silent")
	}
	st := e.Status()
	if !st.Stale {
		t.Errorf("Status().Stale = false after the stale report, silence %s", st.Silence)
	}
	if st.Silence < staleAfter(DefaultKeepAlivePeriod, 0) {
		t.Errorf("Status().Silence = %s, want at least %s", st.Silence, staleAfter(DefaultKeepAlivePeriod, 0))
	}
	err := e.StartTalk(proto.DirectConversation("alice", "bob"))
	if !errors.Is(err, ErrRelayUnreachable) {
		t.Errorf("StartTalk = %v, want an error that wraps ErrRelayUnreachable", err)
	}

	// The idle timeout then ends the session.
	ev := waitEvent(t, e, EventDisconnected)
	var idle *quic.IdleTimeoutError
	if !errors.As(ev.Err, &idle) {
		t.Errorf("disconnected with %v, want an idle timeout", ev.Err)
	}
}

func TestWriteFrameStallsOnSilentRelay(t *testing.T) {
	srv := startLiveRelay(t)
	proxy, err := lossproxy.Start(t.Context(), lossproxy.Config{Target: srv.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	newUser(t).connect(t, srv, "bob")
	s := openSession(t, newUser(t), proxy.Addr().String(), "alice")
	up, err := s.StartLive(t.Context(), proto.Recipient{Name: "bob"}, ulid.Make().String(), 312)
	if err != nil {
		t.Fatalf("StartLive: %v", err)
	}
	defer up.Abort()

	proxy.Close()
	// Unacknowledged records fill QUIC's congestion window, after which
	// WriteFrame must give up rather than block the capture loop.
	pkt := make([]byte, 80)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		err = up.WriteFrame(pkt, false)
		if err != nil || i == 100_000 || ctx.Err() != nil {
			break
		}
	}
	if !errors.Is(err, ErrUploadStalled) {
		t.Fatalf("WriteFrame = %v after %d frames, want an error that wraps ErrUploadStalled", err, up.Frames())
	}
	if !IsTransient(err) {
		t.Errorf("IsTransient(%v) = false, want true", err)
	}
}
