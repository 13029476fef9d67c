package audio

import (
	"testing"
	"time"
)

func TestJitterBufferDueFollowsArrivals(t *testing.T) {
	jb := NewJitterBuffer(JitterOptions{InitialDepth: 1})
	// Packets arrive 7 ms after their slot on the sender's clock, one of
	// them 5 ms later still.
	n := network{frames: 60, delay: 7 * time.Millisecond}
	n.jitter = func(seq uint32) time.Duration {
		if seq == 30 {
			return 5 * time.Millisecond
		}
		return 0
	}
	pkts := n.packets()
	pushUntil := func(now time.Time) {
		for len(pkts) > 0 && !epoch.Add(pkts[0].at).After(now) {
			jb.Push(&pkts[0].frame, epoch.Add(pkts[0].at))
			pkts = pkts[1:]
		}
	}

	// Play 40 slots with pulls 2 ms into each slot, before the packet
	// of the slot arrives, and wait for the packet when it is due.
	for slot := range 40 {
		now := epoch.Add(time.Duration(slot)*FrameDuration + 2*time.Millisecond)
		pushUntil(now)
		if due, ok := jb.Due(); ok {
			now = due
			pushUntil(now)
		}
		jb.Next(now)
	}

	due, ok := jb.Due()
	if !ok {
		t.Fatal("got no due time for a slot whose packet has not arrived")
	}
	// The first pull waited for packet 0, so the next slot is 39, sent at
	// 780 ms. The one late packet is left out, so the packet is due 7 ms
	// after that plus the 1 ms guard.
	if want := epoch.Add(780*time.Millisecond + 7*time.Millisecond + arrivalGuard); !due.Equal(want) {
		t.Errorf("got due time %v, want %v", due.Sub(epoch), want.Sub(epoch))
	}
	st := jb.Stats()
	if st.Concealed+st.Inserted != 0 {
		t.Errorf("got %d concealed and %d inserted slots when pulling at the due time, want none", st.Concealed, st.Inserted)
	}
	if st.Spread != 0 {
		t.Errorf("got spread %v with one late packet left out, want 0", st.Spread)
	}
}

func TestJitterBufferDueWhenBuffered(t *testing.T) {
	jb := NewJitterBuffer(JitterOptions{InitialDepth: 1})
	pos := runBuffer(jb, network{frames: 10, delay: time.Millisecond}.packets()[:5], 100*time.Millisecond, 3)
	if len(pos) != 3 {
		t.Fatalf("got %d playouts, want 3", len(pos))
	}
	// Frames 3 and 4 are buffered.
	if _, ok := jb.Due(); ok {
		t.Error("got a due time while the next packet is buffered, want none")
	}
	if _, ok := NewJitterBuffer(JitterOptions{}).Due(); ok {
		t.Error("got a due time for an idle buffer, want none")
	}
}

func TestJitterBufferIsolatedLatePacketConcealed(t *testing.T) {
	n := network{frames: 100, delay: 2 * time.Millisecond}
	n.jitter = func(seq uint32) time.Duration {
		if seq == 50 {
			return 25 * time.Millisecond // arrives after its slot and the next
		}
		return 0
	}
	jb := NewJitterBuffer(JitterOptions{InitialDepth: 1})
	pos := runBuffer(jb, n.packets(), 12*time.Millisecond, 300)

	st := jb.Stats()
	if st.Inserted != 0 {
		t.Errorf("got %d inserted slots for one late packet, want 0", st.Inserted)
	}
	if st.Concealed != 1 || st.Late != 1 {
		t.Errorf("got %d concealed and %d late, want 1 and 1", st.Concealed, st.Late)
	}
	if got := countKind(pos, PlayoutPacket); got != 99 {
		t.Errorf("got %d packet playouts, want 99", got)
	}
}

func TestJitterBufferRepeatedLatePacketsGrow(t *testing.T) {
	n := network{frames: 400, delay: 2 * time.Millisecond}
	n.jitter = func(seq uint32) time.Duration {
		if seq == 50 || seq == 80 {
			return 25 * time.Millisecond
		}
		return 0
	}
	jb := NewJitterBuffer(JitterOptions{InitialDepth: 1})
	runBuffer(jb, n.packets(), 12*time.Millisecond, 800)

	st := jb.Stats()
	if st.Inserted != 1 {
		t.Errorf("got %d inserted slots, want 1 for the second late packet", st.Inserted)
	}
	// The extra frame is dropped again once a window shows the slack.
	if st.Dropped != 1 {
		t.Errorf("got %d dropped frames, want 1", st.Dropped)
	}
}

func TestSlackWindowAllows(t *testing.T) {
	tests := []struct {
		name   string
		slacks []time.Duration
		slots  int
		want   bool
	}{
		{name: "all above", slacks: []time.Duration{30, 25, 40}, slots: 3, want: true},
		{name: "one below", slacks: []time.Duration{30, 5, 40}, slots: 3, want: true},
		{name: "two below", slacks: []time.Duration{30, 5, 40, 10}, slots: 4, want: false},
		{name: "too few played", slacks: []time.Duration{30, 30}, slots: 10, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w slackWindow
			for _, s := range tt.slacks {
				w.add(s * time.Millisecond)
			}
			w.slots = tt.slots
			if got := w.allows(22 * time.Millisecond); got != tt.want {
				t.Errorf("allows(22ms) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJitterBufferPullDelayCountsAsSlack(t *testing.T) {
	// Packets arrive 19 ms after the slot starts on the receiver's clock
	// and the buffer starts two frames deep, so each waits 21 ms: not
	// enough to drop a frame without a pull delay, enough with 10 ms.
	for _, tt := range []struct {
		pullDelay   time.Duration
		wantDropped bool
	}{{0, false}, {10 * time.Millisecond, true}} {
		n := network{frames: 300, delay: 19 * time.Millisecond}
		jb := NewJitterBuffer(JitterOptions{InitialDepth: 2, PullDelay: tt.pullDelay})
		runBuffer(jb, n.packets(), 0, 600)
		st := jb.Stats()
		if got := st.Dropped > 0; got != tt.wantDropped {
			t.Errorf("pull delay %v: got %d dropped frames, want dropped %v", tt.pullDelay, st.Dropped, tt.wantDropped)
		}
	}
}
