// Package lossproxy is a UDP proxy for tests that drops, delays and
// reorders packets between a client and a server on loopback, in place of
// the kernel's netem queueing discipline.
//
// Each client address gets its own upstream socket, so the server gets
// one peer address per client. Every packet in either direction is dropped with
// probability Config.Loss, or else delivered after Config.Delay plus a
// uniform random extra delay in [0, Config.Jitter), so packets overtake
// each other when the jitter exceeds their spacing. The random source is
// seeded, which makes the sequence of drop and delay decisions repeatable
// for the same order of packets.
package lossproxy

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for zero fields of Config.
const (
	DefaultMaxClients = 64
	DefaultMaxQueued  = 4096
)

// maxPacket is the largest UDP payload the proxy reads.
const maxPacket = 64 << 10

// Config configures a Proxy.
type Config struct {
	// Listen is the client-facing UDP address; "" means 127.0.0.1:0.
	Listen string
	// Target is the server's UDP address.
	Target string
	// Loss is the probability, 0 to 1, that a packet is dropped.
	Loss float64
	// Delay is added to every packet that is not dropped.
	Delay time.Duration
	// Jitter is the upper bound of a uniform random delay added on top of
	// Delay, drawn for each packet.
	Jitter time.Duration
	// Seed seeds the random source of drops and delays.
	Seed uint64
	// MaxClients bounds the client addresses served at once; packets from
	// further clients are dropped.
	MaxClients int
	// MaxQueued bounds the packets waiting for their delivery time;
	// packets beyond it are dropped and counted as overflow.
	MaxQueued int
}

// Stats counts the packets the proxy handled, in both directions.
type Stats struct {
	Received  int64 // packets read from clients and from the target
	Forwarded int64 // packets written to their destination
	Dropped   int64 // packets dropped by the random loss
	Overflow  int64 // packets dropped because the queue or client table was full
}

// Proxy is a running proxy. Close stops it.
type Proxy struct {
	cfg    Config
	ln     *net.UDPConn
	target *net.UDPAddr

	mu      sync.Mutex // guards rng, clients, queue
	rng     *rand.Rand
	clients map[string]*client
	queue   packetQueue
	wake    chan struct{} // signals the scheduler that queue changed

	received, forwarded, dropped, overflow atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// client is one client address with its upstream socket.
type client struct {
	addr *net.UDPAddr
	up   *net.UDPConn
}

// Start listens on cfg.Listen and forwards packets to cfg.Target until ctx
// ends or Close is called.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.Loss < 0 || cfg.Loss > 1 || cfg.Delay < 0 || cfg.Jitter < 0 {
		return nil, fmt.Errorf("start loss proxy: invalid config: loss %v, delay %s, jitter %s",
			cfg.Loss, cfg.Delay, cfg.Jitter)
	}
	cfg = withDefaults(cfg)
	target, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("start loss proxy: target %q: %w", cfg.Target, err)
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("start loss proxy: listen address %q: %w", cfg.Listen, err)
	}
	ln, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("start loss proxy: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Proxy{cfg: cfg, ln: ln, target: target, cancel: cancel,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		clients: map[string]*client{}, wake: make(chan struct{}, 1)}
	p.wg.Go(func() { p.schedule(ctx) })
	p.wg.Go(func() { p.readClients(ctx) })
	context.AfterFunc(ctx, func() { p.closeSockets() })
	return p, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = DefaultMaxClients
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	return cfg
}

// Addr returns the client-facing address.
func (p *Proxy) Addr() *net.UDPAddr { return p.ln.LocalAddr().(*net.UDPAddr) }

// Stats returns the packet counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{Received: p.received.Load(), Forwarded: p.forwarded.Load(),
		Dropped: p.dropped.Load(), Overflow: p.overflow.Load()}
}

// Close stops the proxy, closes its sockets and waits for its goroutines.
// Packets still queued are discarded.
func (p *Proxy) Close() error {
	p.cancel()
	p.closeSockets()
	p.wg.Wait()
	return nil
}

// closeSockets closes every socket, which ends the read loops.
func (p *Proxy) closeSockets() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.clients {
		c.up.Close()
	}
}

// readClients reads packets from clients and queues them for the target.
func (p *Proxy) readClients(ctx context.Context) {
	buf := make([]byte, maxPacket)
	for {
		n, from, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				continue
			}
			return
		}
		p.received.Add(1)
		c := p.clientFor(ctx, from)
		if c == nil {
			p.overflow.Add(1)
			continue
		}
		p.enqueue(packet{data: clone(buf[:n]), conn: c.up})
	}
}

// clientFor returns the client of addr, making it and its upstream
// socket on first contact, or nil when the client table is full.
func (p *Proxy) clientFor(ctx context.Context, addr *net.UDPAddr) *client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[addr.String()]; ok {
		return c
	}
	if len(p.clients) >= p.cfg.MaxClients || ctx.Err() != nil {
		return nil
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	c := &client{addr: addr, up: up}
	p.clients[addr.String()] = c
	p.wg.Go(func() { p.readTarget(ctx, c) })
	return c
}

// readTarget reads the target's packets to client c and queues them.
func (p *Proxy) readTarget(ctx context.Context, c *client) {
	buf := make([]byte, maxPacket)
	for {
		n, err := c.up.Read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				continue
			}
			return
		}
		p.received.Add(1)
		p.enqueue(packet{data: clone(buf[:n]), conn: p.ln, to: c.addr})
	}
}

// enqueue draws the packet's fate and queues it for delivery.
func (p *Proxy) enqueue(pk packet) {
	p.mu.Lock()
	drop := p.rng.Float64() < p.cfg.Loss
	delay := p.cfg.Delay
	if p.cfg.Jitter > 0 {
		delay += time.Duration(p.rng.Int64N(int64(p.cfg.Jitter)))
	}
	full := p.queue.Len() >= p.cfg.MaxQueued
	if !drop && !full {
		pk.due = time.Now().Add(delay)
		heap.Push(&p.queue, pk)
	}
	p.mu.Unlock()
	switch {
	case drop:
		p.dropped.Add(1)
	case full:
		p.overflow.Add(1)
	default:
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// schedule writes each queued packet once its delivery time has come.
func (p *Proxy) schedule(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		for _, pk := range p.popDue(time.Now()) {
			p.deliver(pk)
		}
		t.Reset(p.untilNext(time.Now()))
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
	}
}

// popDue removes and returns the packets due at or before now, earliest
// first.
func (p *Proxy) popDue(now time.Time) []packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	var due []packet
	for p.queue.Len() > 0 && !p.queue[0].due.After(now) {
		due = append(due, heap.Pop(&p.queue).(packet))
	}
	return due
}

// untilNext returns the wait until the next packet is due, or an hour
// when the queue is empty.
func (p *Proxy) untilNext(now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queue.Len() == 0 {
		return time.Hour
	}
	return max(p.queue[0].due.Sub(now), 0)
}

// deliver writes pk to its destination. A write error, such as a socket
// closed by Close, drops the packet.
func (p *Proxy) deliver(pk packet) {
	var err error
	if pk.to != nil {
		_, err = pk.conn.WriteToUDP(pk.data, pk.to)
	} else {
		_, err = pk.conn.Write(pk.data)
	}
	if err == nil {
		p.forwarded.Add(1)
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// packet is one packet waiting for its delivery time. A nil to means the
// socket conn is connected to the target.
type packet struct {
	due  time.Time
	data []byte
	conn *net.UDPConn
	to   *net.UDPAddr
}

// packetQueue is a min-heap of packets by delivery time.
type packetQueue []packet

func (q packetQueue) Len() int           { return len(q) }
func (q packetQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q packetQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)        { *q = append(*q, x.(packet)) }
func (q *packetQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
