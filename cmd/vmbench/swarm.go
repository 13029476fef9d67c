package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// Setup limits of a swarm.
const (
	// setupWorkers is how many listener connections are set up at once.
	setupWorkers = 8
	// talkStartTimeout bounds the wait for every listener's TalkStart.
	talkStartTimeout = 60 * time.Second
	// benchChannel is the channel that the talker and listeners share.
	benchChannel = "bench"
)

// swarm is the talker and the listener connections of relay runs.
type swarm struct {
	log       *slog.Logger
	relay     *relayProc
	talker    *relayConn
	listeners []*relayConn
	// talkStarts counts the TalkStart events of each listener.
	talkStarts []atomic.Int32
	// rec is the recorder of the current run; the receivers feed it.
	rec    atomic.Pointer[recorder]
	talks  int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newSwarm registers the talker and up to maxUsers listener users, puts
// them in one channel, connects n listener connections and subscribes
// them. Connection i logs in as listener user i mod maxUsers, because
// the relay queues a user's whole presence snapshot at subscribe time
// and ends a feed whose snapshot exceeds its 1024-event queue.
func newSwarm(ctx context.Context, log *slog.Logger, rp *relayProc, n, maxUsers int) (*swarm, error) {
	ctx, cancel := context.WithCancel(ctx)
	sw := &swarm{log: log, relay: rp, listeners: make([]*relayConn, n), talkStarts: make([]atomic.Int32, n), cancel: cancel}
	if err := sw.setup(ctx, n, min(n, maxUsers)); err != nil {
		sw.close()
		return nil, err
	}
	for i, c := range sw.listeners {
		sw.wg.Go(func() { sw.receive(ctx, i, c) })
	}
	return sw, nil
}

// setup connects the talker and the listeners in three phases: the
// users, the extra connections of those users, then the feeds.
func (sw *swarm) setup(ctx context.Context, n, users int) error {
	start := time.Now()
	talker, err := sw.newUser(ctx, "talker")
	if err != nil {
		return err
	}
	sw.talker = talker
	if _, err := talker.request(ctx, &pb.Request{Body: &pb.Request_CreateChannel{CreateChannel: &pb.CreateChannel{Name: benchChannel}}}); err != nil {
		return fmt.Errorf("create channel %s: %w", benchChannel, err)
	}
	keys := make([]ed25519.PrivateKey, users)
	err = forEach(ctx, users, func(i int) error {
		c, key, err := sw.newListenerUser(ctx, i)
		sw.listeners[i], keys[i] = c, key
		return err
	})
	if err != nil {
		return err
	}
	sw.log.Info("listener users registered", "users", users, "dur", time.Since(start).Round(time.Millisecond))
	err = forEach(ctx, n-users, func(j int) error {
		c, _, err := dialRelay(ctx, sw.relay.addr, sw.relay.fingerprint, keys[(users+j)%users])
		sw.listeners[users+j] = c
		return err
	})
	if err != nil {
		return err
	}
	err = forEach(ctx, n, func(i int) error {
		return sw.listeners[i].subscribe(ctx, func(ev *pb.Event) {
			if ev.GetTalkStart() != nil {
				sw.talkStarts[i].Add(1)
			}
		})
	})
	sw.log.Info("listeners connected and subscribed", "connections", n, "dur", time.Since(start).Round(time.Millisecond))
	return err
}

// newUser registers a user with a new key on a new connection.
func (sw *swarm) newUser(ctx context.Context, handle string) (*relayConn, error) {
	c, _, err := sw.newUserKey(ctx, handle)
	return c, err
}

func (sw *swarm) newUserKey(ctx context.Context, handle string) (*relayConn, ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	c, _, err := dialRelay(ctx, sw.relay.addr, sw.relay.fingerprint, key)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.request(ctx, &pb.Request{Body: &pb.Request_Register{Register: &pb.Register{Handle: handle}}}); err != nil {
		c.close()
		return nil, nil, fmt.Errorf("register %s: %w", handle, err)
	}
	return c, key, nil
}

// newListenerUser registers listener user i and joins it to the channel.
func (sw *swarm) newListenerUser(ctx context.Context, i int) (*relayConn, ed25519.PrivateKey, error) {
	handle := fmt.Sprintf("l%05d", i)
	c, key, err := sw.newUserKey(ctx, handle)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.request(ctx, &pb.Request{Body: &pb.Request_JoinChannel{JoinChannel: &pb.JoinChannel{Name: benchChannel}}}); err != nil {
		c.close()
		return nil, nil, fmt.Errorf("join %s as %s: %w", benchChannel, handle, err)
	}
	return c, key, nil
}

// receive hands each datagram of listener i to the current recorder.
func (sw *swarm) receive(ctx context.Context, i int, c *relayConn) {
	for {
		b, err := c.qc.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if rec := sw.rec.Load(); rec != nil && len(b) > proto.FrameHeaderSize {
			rec.record(i, b[proto.FrameHeaderSize:])
		}
	}
}

// talk starts a live upload from the talker and waits until every
// listener has its TalkStart.
func (sw *swarm) talk(ctx context.Context) (*liveUpload, error) {
	sw.talks++
	u, err := sw.talker.startLive(ctx, "#"+benchChannel, ulid.Make().String(), uint16(sw.talks))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(talkStartTimeout)
	for i := range sw.talkStarts {
		for sw.talkStarts[i].Load() < int32(sw.talks) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("listener %d got no TalkStart within %s", i, talkStartTimeout)
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return u, nil
}

// measure runs one talk of plan p through the relay.
func (sw *swarm) measure(ctx context.Context, p plan) (Result, error) {
	clk := clock{base: time.Now()}
	rec := newRecorder(clk, p)
	sw.rec.Store(rec)
	u, err := sw.talk(ctx)
	if err != nil {
		return Result{}, err
	}
	load := loadAverage()
	w, err := drive(ctx, p, clk, u, rec, sw.relay.pid())
	if err != nil {
		return Result{}, err
	}
	if _, err := u.finish(ctx); err != nil {
		return Result{}, err
	}
	return newResult("vm", p, rec, w, load), nil
}

// close closes every connection and waits for the receivers.
func (sw *swarm) close() {
	sw.cancel()
	for _, c := range append([]*relayConn{sw.talker}, sw.listeners...) {
		if c != nil {
			c.close()
		}
	}
	sw.wg.Wait()
}

// forEach runs fn for 0..n-1 on setupWorkers goroutines and returns the
// first error.
func forEach(ctx context.Context, n int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	for range min(setupWorkers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
