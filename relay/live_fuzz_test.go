package relay

import (
	"testing"
	"time"

	"github.com/vm-voice/vm/proto"
)

// FuzzTakeDatagram feeds arbitrary datagrams to a connection with one
// live upload and one listener. Whatever reaches the listener must be a
// valid frame of that upload, forwarded once per sequence number.
func FuzzTakeDatagram(f *testing.F) {
	valid := liveFrame(0, 10, 9)
	f.Add(frameBytes(valid))
	f.Add(frameBytes(liveFrame(3, 10, 9)))
	f.Add(frameBytes(liveFrame(3, 10, 8)))
	f.Add([]byte("garbage"))
	f.Add(make([]byte, proto.MaxDatagramSize+1))
	srv := &Server{cfg: Config{MaxMessageDuration: time.Minute}, metrics: newMetrics(), now: time.Now}
	f.Fuzz(func(t *testing.T, b []byte) {
		ss := &session{s: srv, live: map[uint16]*transmission{}}
		tr := newTransmission(ss, "alice", "d.alice.bob", uploadHeader{id: "01AAAAAAAAAAAAAAAAAAAAAAA1", live: true, liveHandle: 9}, []string{"alice", "bob"})
		ss.live[9] = tr
		sub := &subscriber{datagrams: make(chan queuedDatagram, listenerQueueLen)}
		tr.listeners.Store(&[]listener{{sub: sub, handle: 77}})

		ss.takeDatagram(b)
		ss.takeDatagram(b)
		if len(sub.datagrams) > 1 {
			t.Fatalf("one datagram sent twice was forwarded %d times", len(sub.datagrams))
		}
		for len(sub.datagrams) > 0 {
			q := <-sub.datagrams
			out := q.frame.b[:q.frame.n]
			fr, err := proto.ParseFrame(out)
			if err != nil {
				t.Fatalf("forwarded an invalid frame: %v", err)
			}
			if err := checkLiveFrame(&fr); err != nil || fr.Handle != 9 || int(fr.Seq) >= tr.maxFrames {
				t.Fatalf("forwarded frame %+v breaks the live frame rules", fr)
			}
			if len(out) > proto.MaxDatagramSize {
				t.Fatalf("forwarded %d bytes, above %d", len(out), proto.MaxDatagramSize)
			}
			q.frame.release()
		}
	})
}
