package lossproxy

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// echoServer sends every UDP packet back to its sender until the test
// ends.
func echoServer(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			conn.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return conn
}

// roundTrip sends n numbered packets through p to the echo server and
// returns the sequence numbers of the echoes in arrival order. It paces
// the sends, because a burst would overflow the kernel's socket buffers,
// and stops reading once no echo has come for quiet.
func roundTrip(t *testing.T, p *Proxy, n int, quiet time.Duration) []uint32 {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echoes := make(chan []uint32)
	go func() { echoes <- readEchoes(conn, n, quiet) }()
	for i := range n {
		if _, err := conn.Write(binary.BigEndian.AppendUint32(nil, uint32(i))); err != nil {
			t.Error(err)
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	return <-echoes
}

// readEchoes reads up to n numbered echoes from conn until none comes for
// quiet.
func readEchoes(conn *net.UDPConn, n int, quiet time.Duration) []uint32 {
	var got []uint32
	buf := make([]byte, 64)
	for len(got) < n {
		conn.SetReadDeadline(time.Now().Add(quiet))
		k, err := conn.Read(buf)
		if err != nil {
			break
		}
		got = append(got, binary.BigEndian.Uint32(buf[:k]))
	}
	return got
}

func startProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProxyForwardsWithoutLoss(t *testing.T) {
	srv := echoServer(t)
	p := startProxy(t, Config{Target: srv.LocalAddr().String()})
	got := roundTrip(t, p, 200, 2*time.Second)
	if len(got) != 200 {
		t.Fatalf("got %d echoes, want 200", len(got))
	}
	st := p.Stats()
	if st.Forwarded != 400 || st.Dropped != 0 {
		t.Errorf("got stats %+v, want 400 forwarded and none dropped", st)
	}
}

func TestProxyLossRate(t *testing.T) {
	tests := []struct {
		name     string
		loss     float64
		min, max int // accepted echoes of 1000 packets, which pass the proxy twice
	}{
		{name: "five percent", loss: 0.05, min: 850, max: 950},
		{name: "half", loss: 0.5, min: 180, max: 320},
		{name: "all", loss: 1, min: 0, max: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := echoServer(t)
			p := startProxy(t, Config{Target: srv.LocalAddr().String(), Loss: tt.loss, Seed: 7})
			got := roundTrip(t, p, 1000, 500*time.Millisecond)
			if len(got) < tt.min || len(got) > tt.max {
				t.Errorf("got %d echoes, want %d to %d", len(got), tt.min, tt.max)
			}
			st := p.Stats()
			if st.Forwarded+st.Dropped+st.Overflow != st.Received {
				t.Errorf("got stats %+v, want forwarded+dropped+overflow == received", st)
			}
		})
	}
}

func TestProxyJitterReorders(t *testing.T) {
	srv := echoServer(t)
	const delay = 10 * time.Millisecond
	p := startProxy(t, Config{Target: srv.LocalAddr().String(), Delay: delay, Jitter: 30 * time.Millisecond, Seed: 1})
	start := time.Now()
	got := roundTrip(t, p, 100, 2*time.Second)
	if len(got) != 100 {
		t.Fatalf("got %d echoes, want 100", len(got))
	}
	reordered := 0
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			reordered++
		}
	}
	if reordered == 0 {
		t.Errorf("got echoes in send order, want some reordered by 30 ms of jitter")
	}
	// Both directions add at least delay, so no echo can come sooner.
	if el := time.Since(start); el < 2*delay {
		t.Errorf("got all echoes after %s, want at least %s", el, 2*delay)
	}
}

func TestProxyRejectsInvalidConfig(t *testing.T) {
	tests := []Config{
		{Target: "127.0.0.1:1", Loss: -0.1},
		{Target: "127.0.0.1:1", Loss: 1.5},
		{Target: "127.0.0.1:1", Jitter: -time.Millisecond},
		{Target: "not an address"},
	}
	for _, cfg := range tests {
		if p, err := Start(context.Background(), cfg); err == nil {
			p.Close()
			t.Errorf("Start(%+v) got nil error, want one", cfg)
		}
	}
}

func TestProxyStopsWithContext(t *testing.T) {
	srv := echoServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, Config{Target: srv.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, p, 10, time.Second)
	cancel()
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("got goroutines running 5 s after cancel, want them stopped")
	}
}
