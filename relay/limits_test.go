package relay

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto/pb"
)

// logBuffer collects a server's log lines while sessions write to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// counterValue returns the value of a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// captureLog makes the sessions of a server log into the returned buffer.
func captureLog(buf *logBuffer) func(*Server) {
	return func(s *Server) {
		s.log = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

func TestRateLimitedRequestsLogOnce(t *testing.T) {
	var logs logBuffer
	srv := startServer(t, Config{}, captureLog(&logs))
	alice := newUser(t, srv, "alice")

	// Far more pings than the burst, faster than the rate refills it.
	limited := 0
	for range 3 * requestBurst {
		if errCode(alice.do(&pb.Request{Body: &pb.Request_Ping{Ping: &pb.Ping{}}})) == pb.ErrorCode_ERROR_CODE_RATE_LIMITED {
			limited++
		}
	}
	if limited < requestBurst {
		t.Fatalf("got %d rate-limited pings of %d, want at least %d", limited, 3*requestBurst, requestBurst)
	}
	if got := logs.lines(`msg="requests rate limited"`); len(got) != 1 || !strings.Contains(got[0], "count=1 ") {
		t.Errorf("got rate-limit log lines %q, want one with count=1", got)
	}
	if got := logs.lines("RATE_LIMITED"); len(got) != 0 {
		t.Errorf("got %d request rejected lines for rate limits, want 0: %q", len(got), got[0])
	}
	counted := counterValue(t, srv.metrics.errors.WithLabelValues(pb.ErrorCode_ERROR_CODE_RATE_LIMITED.String()))
	if int(counted) != limited {
		t.Errorf("got %v rate-limited errors in the metrics, want %d", counted, limited)
	}
}

func TestPeerLoggedOnce(t *testing.T) {
	var logs logBuffer
	srv := startServer(t, Config{}, captureLog(&logs))
	alice := newUser(t, srv, "alice")
	relogin := dialWithKey(t, srv, alice.priv, alice.pub)
	relogin.login()
	newUser(t, srv, "bob")
	alice.send("@bob", 3)

	lines := logs.lines("peer=alice")
	if len(lines) < 3 {
		t.Fatalf("got %d log lines with peer=alice, want registered, login and upload lines: %q", len(lines), lines)
	}
	for _, l := range lines {
		if n := strings.Count(l, "peer="); n != 1 {
			t.Errorf("got %d peer attributes, want 1: %s", n, l)
		}
	}
}

func TestConnectionLimit(t *testing.T) {
	srv := startServer(t, Config{MaxConnections: 1})
	newUser(t, srv, "alice")

	second := dial(t, srv)
	_, _, err := second.roundTrip(second.loginRequest(second.conn), nil)
	var appErr *quic.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("login over the limit: got %v, want the connection closed", err)
	}
	if appErr.ErrorCode != codeTooManyConnections {
		t.Errorf("close code: got %#x, want %#x", appErr.ErrorCode, codeTooManyConnections)
	}
	if want := "limit of 1 connections"; !strings.Contains(appErr.ErrorMessage, want) {
		t.Errorf("close message: got %q, want it to contain %q", appErr.ErrorMessage, want)
	}
	if got := counterValue(t, srv.metrics.connectionsRejected); got != 1 {
		t.Errorf("got %v rejected connections in the metrics, want 1", got)
	}
}

func TestListUnknownPeer(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	tests := []struct {
		conv string
		want pb.ErrorCode
	}{
		{"d.alice.bob", pb.ErrorCode_ERROR_CODE_UNSPECIFIED},
		{"d.alice.nobody", pb.ErrorCode_ERROR_CODE_NOT_FOUND},
		{"c.nochan", pb.ErrorCode_ERROR_CODE_NOT_FOUND},
	}
	for _, tt := range tests {
		res := alice.list(&pb.ListMessages{Conversation: tt.conv, All: true})
		if got := errCode(res); got != tt.want {
			t.Errorf("list %s: got %v (%v), want %v", tt.conv, got, res.Error, tt.want)
		}
	}
	res := alice.list(&pb.ListMessages{Conversation: "d.alice.nobody", All: true})
	if want := "unknown user @nobody"; res.Error == nil || !strings.Contains(res.Error.Message, want) {
		t.Errorf("list d.alice.nobody: got %v, want %q", res.Error, want)
	}
}
