package relay

import (
	"context"
	"log/slog"
	"sync"

	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// hub routes events and live transmissions to subscribed connections. It
// keeps who is online and which transmissions are in progress in memory,
// so the forwarding path never reads the metadata store.
type hub struct {
	log     *slog.Logger
	metrics *metrics

	// mu guards the maps below, the listener lists and member sets of
	// the transmissions in talks, and the hub-owned fields of every
	// subscriber.
	mu sync.Mutex
	// subs maps each online handle to its subscribed connections.
	subs map[string][]*subscriber
	// peers maps each online handle to the handles it shares a
	// conversation with, which get its presence changes.
	peers map[string]map[string]bool
	// talks maps message ids to the transmissions in progress.
	talks map[string]*transmission
}

func newHub(log *slog.Logger, m *metrics) *hub {
	return &hub{
		log:     log,
		metrics: m,
		subs:    map[string][]*subscriber{},
		peers:   map[string]map[string]bool{},
		talks:   map[string]*transmission{},
	}
}

// subscribe adds sub, queues its snapshot (the presence of its peers and
// a TalkStart for each transmission it may hear). When sub is the user's
// first connection, the peers get the user's presence as online.
func (h *hub) subscribe(sub *subscriber, peers []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	me := sub.handle
	first := len(h.subs[me]) == 0
	h.subs[me] = append(h.subs[me], sub)
	for _, p := range peers {
		h.linkPeersLocked(me, p)
		h.sendPresenceLocked(sub, p, len(h.subs[p]) > 0)
	}
	for _, t := range h.talks {
		if t.members[me] {
			h.addListenerLocked(t, sub)
		}
	}
	if first {
		h.broadcastPresenceLocked(me, true)
	}
}

// unsubscribe removes sub from the hub and from the transmissions it
// receives. When sub was the user's last connection, the peers get the
// user's presence as offline.
func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	me := sub.handle
	subs := h.subs[me]
	for i, s := range subs {
		if s == sub {
			subs = append(subs[:i:i], subs[i+1:]...)
			break
		}
	}
	for _, t := range h.talks {
		h.removeListenerLocked(t, sub)
	}
	if len(subs) > 0 {
		h.subs[me] = subs
		return
	}
	delete(h.subs, me)
	h.broadcastPresenceLocked(me, false)
	delete(h.peers, me)
}

// linkPeersLocked records that a and b share a conversation, for those
// of them that are online.
func (h *hub) linkPeersLocked(a, b string) {
	if a == b {
		return
	}
	for _, pair := range [2][2]string{{a, b}, {b, a}} {
		if len(h.subs[pair[0]]) == 0 {
			continue
		}
		if h.peers[pair[0]] == nil {
			h.peers[pair[0]] = map[string]bool{}
		}
		h.peers[pair[0]][pair[1]] = true
	}
}

// broadcastPresenceLocked sends the presence of handle to every
// subscribed connection of its peers.
func (h *hub) broadcastPresenceLocked(handle string, online bool) {
	for p := range h.peers[handle] {
		for _, s := range h.subs[p] {
			h.sendPresenceLocked(s, handle, online)
		}
	}
}

// sendPresenceLocked queues the presence of handle for sub unless sub
// has it already.
func (h *hub) sendPresenceLocked(sub *subscriber, handle string, online bool) {
	if was, ok := sub.presence[handle]; ok && was == online {
		return
	}
	sub.presence[handle] = online
	sub.queueEvent(&pb.Event{Body: &pb.Event_Presence{Presence: &pb.Presence{Handle: handle, Online: online}}})
}

// startTalk registers t and announces it to the subscribed connections of
// its members, except the sender's own connection. It returns false when
// a transmission with t's message id is in progress.
func (h *hub) startTalk(t *transmission) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.talks[t.id]; ok {
		return false
	}
	h.talks[t.id] = t
	for m := range t.members {
		for _, s := range h.subs[m] {
			h.addListenerLocked(t, s)
		}
	}
	h.metrics.talks.Inc()
	return true
}

// talk returns the transmission of message id in progress, or nil.
func (h *hub) talk(id string) *transmission {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.talks[id]
}

// endTalk removes t and sends TalkEnd to its listeners. When stored is
// not nil, it then announces the stored message to t's members.
func (h *hub) endTalk(t *transmission, stored *pb.MessageInfo, frames uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.talks[t.id] != t {
		return
	}
	delete(h.talks, t.id)
	h.metrics.talks.Dec()
	for _, l := range *t.listeners.Load() {
		h.sendTalkEndLocked(t, l, stored != nil, frames)
		l.sub.freeStreamLocked(t.id)
	}
	t.listeners.Store(&[]listener{})
	if stored != nil {
		h.messageStoredLocked(stored, t.memberList())
	}
}

func (h *hub) sendTalkEndLocked(t *transmission, l listener, stored bool, frames uint64) {
	l.sub.queueEvent(&pb.Event{Body: &pb.Event_TalkEnd{TalkEnd: &pb.TalkEnd{
		MessageId:    t.id,
		Conversation: t.conv,
		Handle:       uint32(l.handle),
		Stored:       stored,
		Frames:       frames,
	}}})
}

// addListenerLocked gives sub a stream handle for t, queues TalkStart and
// adds sub to t's listeners. It skips the sender's own connection and a
// connection that listens already or has no free stream handle.
func (h *hub) addListenerLocked(t *transmission, sub *subscriber) {
	if sub.ss == t.session {
		return
	}
	if _, ok := sub.streams[t.id]; ok {
		return
	}
	handle, ok := sub.allocStreamLocked(t.id)
	if !ok {
		h.log.Warn("no free stream handle for a listener", "peer", sub.handle, "msg_id", t.id)
		return
	}
	sub.queueEvent(&pb.Event{Body: &pb.Event_TalkStart{TalkStart: &pb.TalkStart{
		MessageId:     t.id,
		Conversation:  t.conv,
		Sender:        t.sender,
		Handle:        uint32(handle),
		StartedUnixMs: t.started.UnixMilli(),
		FramesSoFar:   uint64(t.received()),
	}}})
	old := *t.listeners.Load()
	ls := make([]listener, len(old), len(old)+1)
	copy(ls, old)
	ls = append(ls, listener{sub: sub, handle: handle})
	t.listeners.Store(&ls)
}

// removeListenerLocked takes sub off t's listeners and reports whether
// it was one.
func (h *hub) removeListenerLocked(t *transmission, sub *subscriber) (listener, bool) {
	old := *t.listeners.Load()
	for i, l := range old {
		if l.sub != sub {
			continue
		}
		ls := make([]listener, 0, len(old)-1)
		ls = append(append(ls, old[:i]...), old[i+1:]...)
		t.listeners.Store(&ls)
		sub.freeStreamLocked(t.id)
		return l, true
	}
	return listener{}, false
}

// allocStreamLocked picks a free stream handle for message id.
func (sub *subscriber) allocStreamLocked(id string) (uint16, bool) {
	for range 1 << 16 {
		handle := sub.nextHandle
		sub.nextHandle++
		if handle == 0 || sub.inUse[handle] {
			continue
		}
		sub.inUse[handle] = true
		sub.streams[id] = handle
		return handle, true
	}
	return 0, false
}

func (sub *subscriber) freeStreamLocked(id string) {
	if handle, ok := sub.streams[id]; ok {
		delete(sub.inUse, handle)
		delete(sub.streams, id)
	}
}

// messageStored announces a stored message to the subscribed
// connections of the conversation's members.
func (h *hub) messageStored(info *pb.MessageInfo, members []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.messageStoredLocked(info, members)
}

// messageStoredLocked queues MessageStored for every subscribed
// connection of members. The members of a direct conversation may have
// met in it just now, so it links them as peers and reports their
// presence to each other first.
func (h *hub) messageStoredLocked(info *pb.MessageInfo, members []string) {
	direct := len(members) == 2 && info.Conversation == proto.DirectConversation(members[0], members[1])
	if direct {
		h.linkPeersLocked(members[0], members[1])
	}
	for i, m := range members {
		for _, s := range h.subs[m] {
			if direct {
				other := members[1-i]
				h.sendPresenceLocked(s, other, len(h.subs[other]) > 0)
			}
			s.queueEvent(&pb.Event{Body: &pb.Event_MessageStored{MessageStored: info}})
		}
	}
}

// joined makes handle a member of conv, a channel whose members are now
// members: the new member and the others learn each other's presence,
// and the new member's connections join transmissions in progress there.
func (h *hub) joined(conv, handle string, members []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range members {
		if m == handle {
			continue
		}
		h.linkPeersLocked(handle, m)
		for _, s := range h.subs[handle] {
			h.sendPresenceLocked(s, m, len(h.subs[m]) > 0)
		}
		for _, s := range h.subs[m] {
			h.sendPresenceLocked(s, handle, len(h.subs[handle]) > 0)
		}
	}
	for _, t := range h.talks {
		if t.conv != conv {
			continue
		}
		t.members[handle] = true
		for _, s := range h.subs[handle] {
			h.addListenerLocked(t, s)
		}
	}
}

// left stops the transmissions in conv from reaching handle, who left
// the channel, and ends them for its connections with TalkEnd.
func (h *hub) left(conv, handle string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.talks {
		if t.conv != conv {
			continue
		}
		delete(t.members, handle)
		for _, s := range h.subs[handle] {
			if l, ok := h.removeListenerLocked(t, s); ok {
				h.sendTalkEndLocked(t, l, false, uint64(t.received()))
			}
		}
	}
}

// listened sends ev to the subscribed connections of the message's
// sender and of its listener.
func (h *hub) listened(sender string, ev *pb.Listened) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, handle := range []string{sender, ev.Handle} {
		for _, s := range h.subs[handle] {
			s.queueEvent(&pb.Event{Body: &pb.Event_Listened{Listened: ev}})
		}
	}
}

// peers returns the handles that share a conversation with handle.
func (s *Server) peers(ctx context.Context, handle string) ([]string, error) {
	convs, err := s.meta.Conversations(ctx, handle)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{handle: true}
	var peers []string
	for _, conv := range convs {
		members, err := s.members(ctx, conv)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if !seen[m] {
				seen[m] = true
				peers = append(peers, m)
			}
		}
	}
	return peers, nil
}

// members returns the handles of a conversation's members.
func (s *Server) members(ctx context.Context, conv string) ([]string, error) {
	members, channel, err := proto.ParseConversation(conv)
	if err != nil || channel == "" {
		return members, err
	}
	c, err := s.meta.Channel(ctx, channel)
	if err != nil {
		return nil, err
	}
	return c.Members, nil
}
