//go:build !race

package relay

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto"
)

// TestForwardAllocations checks that taking a datagram in and queuing it
// for three listeners allocates nothing once the frame pool is warm. The
// race detector makes sync.Pool drop items at random, so this test runs
// without it.
func TestForwardAllocations(t *testing.T) {
	srv := &Server{cfg: Config{MaxMessageDuration: time.Minute}, metrics: newMetrics(), now: time.Now}
	ss := &session{s: srv, live: map[uint16]*transmission{}}
	tr := newTransmission(ss, "alice", "c.ops", uploadHeader{id: "01AAAAAAAAAAAAAAAAAAAAAAA1", live: true, liveHandle: 9}, nil)
	ss.live[9] = tr
	var ls []listener
	for i := range 3 {
		ls = append(ls, listener{sub: &subscriber{datagrams: make(chan queuedDatagram, listenerQueueLen)}, handle: uint16(i + 1)})
	}
	tr.listeners.Store(&ls)
	dgram := frameBytes(liveFrame(1, 3000, 9))
	seq := uint32(1)
	allocs := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint32(dgram[4:], seq)
		binary.BigEndian.PutUint32(dgram[8:], seq*proto.FrameSamples)
		seq++
		ss.takeDatagram(dgram)
		for _, l := range ls {
			q := <-l.sub.datagrams
			q.frame.release()
		}
	})
	if allocs > 0.1 {
		t.Errorf("forwarding one datagram to 3 listeners allocates %.2f times, want 0", allocs)
	}
}
