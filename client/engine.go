package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// DefaultReconnectBackoff is the wait before each reconnection attempt of
// an Engine; the last wait repeats.
var DefaultReconnectBackoff = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second,
	5 * time.Second, 10 * time.Second}

// engineQueryTimeout bounds the requests of Conversations, Messages, Play
// and MarkListened, so a user interface waits at most this long on them.
const engineQueryTimeout = 5 * time.Second

// ErrNotConnected is returned by Engine methods that need the relay while
// the engine has no session.
var ErrNotConnected = errors.New("not connected to the relay")

// EngineOptions configures an Engine.
type EngineOptions struct {
	// Paths locates the identity key, known_relays and the message cache.
	Paths config.Paths
	// Relay is the relay address as HOST:PORT.
	Relay string
	// CaptureDevice and PlaybackDevice name the audio devices; "" means
	// the default device.
	CaptureDevice, PlaybackDevice string
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// AutoPlayLive plays incoming live talk as it arrives. Callers that
	// want live audio, which is the usual case, set it.
	AutoPlayLive bool
	// AutoPlayNext plays the next unheard message of the conversation
	// when a stored message finishes playing.
	AutoPlayNext bool
	// Conn configures the connection to the relay.
	Conn Options
	// Session configures the event feed and live datagrams.
	Session SessionOptions
	// ReconnectBackoff is the wait before each reconnection; nil means
	// DefaultReconnectBackoff.
	ReconnectBackoff []time.Duration
	// OpenCapture and OpenPlayback open the audio devices; nil means
	// PortAudio through audio.OpenCapture and audio.OpenPlayback.
	OpenCapture  func(name string) (audio.FrameSource, error)
	OpenPlayback func(name string) (audio.FrameSink, error)
	// Encoder configures the Opus encoder of live talk; zero fields take
	// audio's defaults (24 kbit/s VBR, in-band FEC on).
	Encoder audio.EncoderOptions

	liveDoneForTest   func(msgID string, st livePlayerStats) // live playback ended
	livePlayedForTest func(msgID string, po audio.Playout)   // live player filled a slot, in the playout loop
	repairedForTest   func(msgID string, filled int)         // copy repaired and cached
}

// Engine runs the live side of vm for a user interface: it keeps a
// session with the relay, captures and uploads the user's talk, plays
// incoming live talk and stored messages, and reports changes on Events.
// Its methods are safe for concurrent use and return without waiting on
// the network for more than a few seconds.
type Engine struct {
	opt  EngineOptions
	log  *slog.Logger
	id   *Identity
	pins *KnownRelays

	events chan EngineEvent
	out    *playout

	mu       sync.Mutex // guards the fields below
	sess     *Session
	status   EngineStatus
	online   map[string]bool
	talks    map[string]*incoming // incoming transmissions by message id
	talk     *outgoing            // the user's own transmission
	playback *storedPlayback
	listened map[string]bool // message ids this engine marked listened
	// sending contains the ids of kept messages being stored.
	sending map[string]bool
	// sessionUp is closed while sess is set, and replaced by an open
	// channel when the session ends.
	sessionUp chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewEngine loads the identity and starts the engine: it connects to the
// relay in the background, reconnecting with backoff, and opens the
// speaker. It fails only when the relay address or the identity is
// invalid. A missing speaker shows in Status instead, and a missing
// microphone once CheckMic or StartTalk has tried it.
func NewEngine(ctx context.Context, opt EngineOptions) (*Engine, error) {
	if err := config.CheckRelayAddr(opt.Relay); err != nil {
		return nil, err
	}
	id, err := LoadIdentity(opt.Paths.Home)
	if err != nil {
		return nil, err
	}
	opt = opt.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	e := &Engine{opt: opt, log: opt.Logger, id: id, ctx: ctx, cancel: cancel,
		pins:   &KnownRelays{Path: filepath.Join(opt.Paths.Home, KnownRelaysFile)},
		events: make(chan EngineEvent, 256), online: map[string]bool{},
		talks: map[string]*incoming{}, listened: map[string]bool{}, sending: map[string]bool{},
		sessionUp: make(chan struct{})}
	e.status.Relay = opt.Relay
	e.status.InputLevel = silentLevel
	e.out = newPlayout(e)
	e.wg.Go(func() { e.out.run(ctx) })
	e.wg.Go(func() { e.connectLoop(ctx) })
	return e, nil
}

func (o EngineOptions) withDefaults() EngineOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Conn.Logger == nil {
		o.Conn.Logger = o.Logger
	}
	if len(o.ReconnectBackoff) == 0 {
		o.ReconnectBackoff = DefaultReconnectBackoff
	}
	if o.OpenCapture == nil {
		o.OpenCapture = openPortAudioCapture
	}
	if o.OpenPlayback == nil {
		o.OpenPlayback = openPortAudioPlayback
	}
	return o
}

func openPortAudioCapture(name string) (audio.FrameSource, error) {
	if err := audio.InitDevices(); err != nil {
		return nil, err
	}
	return audio.OpenCapture(name)
}

func openPortAudioPlayback(name string) (audio.FrameSink, error) {
	if err := audio.InitDevices(); err != nil {
		return nil, err
	}
	return audio.OpenPlayback(name)
}

// Events returns the engine's changes. The channel is buffered; when it
// is full the engine drops playback progress events and waits briefly
// for room for the others.
func (e *Engine) Events() <-chan EngineEvent { return e.events }

// emit reports ev to the user interface. Progress events are dropped
// when the channel is full; other events wait up to a second.
func (e *Engine) emit(ev EngineEvent) {
	select {
	case e.events <- ev:
		return
	default:
	}
	if ev.Kind == EventPlaybackProgress {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case e.events <- ev:
	case <-t.C:
		e.log.Warn("event dropped: the user interface reads no events", "kind", int(ev.Kind))
	case <-e.ctx.Done():
	}
}

// Status returns a snapshot for the status bar.
func (e *Engine) Status() EngineStatus {
	e.mu.Lock()
	st := e.status
	sess := e.sess
	e.mu.Unlock()
	if sess != nil {
		st.RTT = sess.RTT()
		st.Silence, st.Stale = sess.Conn().Silence(time.Now())
	}
	return st
}

// Close stops talking and playback, closes the session and the audio
// devices, and waits for the engine's goroutines.
func (e *Engine) Close() error {
	e.StopTalk()
	e.StopPlayback()
	e.cancel()
	e.mu.Lock()
	sess := e.sess
	e.mu.Unlock()
	if sess != nil {
		sess.Close()
	}
	e.wg.Wait()
	return nil
}

// session returns the current session or ErrNotConnected.
func (e *Engine) session() (*Session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil, ErrNotConnected
	}
	return e.sess, nil
}

// CheckMic opens and closes the microphone once, so that Status reports
// a missing one before the user tries to talk, and returns the problem
// as MicError states it, or nil. A user interface calls it when it opens
// and when the user asks to check again. While the user talks it returns
// nil without opening the device, which capture is using.
func (e *Engine) CheckMic() error {
	e.mu.Lock()
	talking := e.talk != nil
	e.mu.Unlock()
	if talking {
		return nil
	}
	src, err := e.opt.OpenCapture(e.opt.CaptureDevice)
	if err == nil {
		src.Close()
	}
	return e.setMicError(err)
}

// setMicError records the outcome of opening the microphone in
// Status().MicError and returns the problem, or nil.
func (e *Engine) setMicError(err error) error {
	problem := deviceProblem("microphone", "--mic", "mic", err)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status.MicError = ""
	if problem != nil {
		e.status.MicError = problem.Error()
	}
	return problem
}

// deviceProblem describes a failure to open an audio device for the
// user: role is "microphone" or "speaker", and flag and key are the
// command line flag and config.toml key that choose the device. The audio
// package's errors state the fix for a missing device and list the
// devices when a name matches none, so for that case this adds how to
// pass another name.
func deviceProblem(role, flag, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, audio.ErrDeviceNotFound):
		return fmt.Errorf("%s unavailable: %w: pass one of those with %s NAME or set %s in config.toml (vm devices lists them)",
			role, err, flag, key)
	}
	return fmt.Errorf("%s unavailable: %w", role, err)
}

// Conversations returns the user's conversations with unread counts and
// who is online or talking in each.
func (e *Engine) Conversations(ctx context.Context) ([]ConversationState, error) {
	s, err := e.session()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, engineQueryTimeout)
	defer cancel()
	convs, err := s.Conn().ListConversations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ConversationState, 0, len(convs))
	for _, c := range convs {
		out = append(out, e.conversationState(ctx, s, c))
	}
	return append(out, e.liveOnlyConversations(s, out)...), nil
}

// liveOnlyConversations returns the conversations with a transmission in
// progress that listed lacks. The relay lists a conversation once it has
// a stored message, so a first message that is still live would
// otherwise not show.
func (e *Engine) liveOnlyConversations(s *Session, listed []ConversationState) []ConversationState {
	known := map[string]bool{}
	for _, c := range listed {
		known[c.ID] = true
	}
	byConv := map[string]*ConversationState{}
	var order []string
	e.mu.Lock()
	for _, in := range e.talks {
		if known[in.conv] {
			continue
		}
		c := byConv[in.conv]
		if c == nil {
			c = &ConversationState{ID: in.conv, Display: proto.DisplayConversation(in.conv, s.Me())}
			byConv[in.conv] = c
			order = append(order, in.conv)
		}
		c.Talking = append(c.Talking, in.sender)
		if e.online[in.sender] {
			c.Online = append(c.Online, in.sender)
		}
	}
	e.mu.Unlock()
	sort.Strings(order)
	out := make([]ConversationState, 0, len(order))
	for _, id := range order {
		c := byConv[id]
		sort.Strings(c.Talking)
		sort.Strings(c.Online)
		out = append(out, *c)
	}
	return out
}

// conversationState fills in presence and talkers of one conversation.
func (e *Engine) conversationState(ctx context.Context, s *Session, c *pb.Conversation) ConversationState {
	st := ConversationState{ID: c.GetId(), Display: c.GetDisplay(), Unread: int(c.GetUnread())}
	if st.Display == "" {
		st.Display = proto.DisplayConversation(c.GetId(), s.Me())
	}
	members := e.members(ctx, s, c.GetId())
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range members {
		if m != s.Me() && e.online[m] {
			st.Online = append(st.Online, m)
		}
	}
	for _, in := range e.talks {
		if in.conv == c.GetId() {
			st.Talking = append(st.Talking, in.sender)
		}
	}
	sort.Strings(st.Talking)
	return st
}

// members returns the handles of a conversation: both ends of a direct
// conversation, or the channel's members as the relay lists them.
func (e *Engine) members(ctx context.Context, s *Session, conv string) []string {
	handles, channel, err := proto.ParseConversation(conv)
	if err != nil || channel == "" {
		return handles
	}
	info, err := s.Conn().Members(ctx, channel)
	if err != nil {
		e.log.Debug("list channel members", "conv", conv, "err", err)
		return nil
	}
	return info.GetMembers()
}

// Messages returns the stored messages of conversation conv, oldest
// first, followed by transmissions still in progress.
func (e *Engine) Messages(ctx context.Context, conv string) ([]MessageState, error) {
	s, err := e.session()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, engineQueryTimeout)
	defer cancel()
	list, err := s.Conn().List(ctx, ListOptions{Conversation: conv, All: true})
	if err != nil {
		return nil, err
	}
	out := make([]MessageState, 0, len(list.GetMessages()))
	for _, m := range list.GetMessages() {
		out = append(out, e.messageState(m))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return append(out, e.liveMessages(conv)...), nil
}

// messageState converts stored metadata, counting a message this engine
// marked listened as listened even before the relay's list shows it.
func (e *Engine) messageState(m *pb.MessageInfo) MessageState {
	e.mu.Lock()
	marked := e.listened[m.GetMessageId()]
	e.mu.Unlock()
	return MessageState{
		ID: m.GetMessageId(), Conversation: m.GetConversation(), Sender: m.GetSender(),
		Time:       time.UnixMilli(m.GetCreatedUnixMs()),
		Duration:   time.Duration(m.GetDurationMs()) * time.Millisecond,
		Listened:   m.GetListened() || marked,
		ListenedBy: m.GetListenedBy(),
	}
}

// liveMessages returns the transmissions in progress in conv.
func (e *Engine) liveMessages(conv string) []MessageState {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []MessageState
	for id, in := range e.talks {
		if in.conv == conv {
			out = append(out, MessageState{ID: id, Conversation: conv, Sender: in.sender,
				Time: in.started, Live: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// recipientOf returns the recipient that a message to conversation conv
// is addressed to, from the point of view of handle me.
func recipientOf(conv, me string) (proto.Recipient, error) {
	members, channel, err := proto.ParseConversation(conv)
	switch {
	case err != nil:
		return proto.Recipient{}, err
	case channel != "":
		return proto.Recipient{Channel: true, Name: channel}, nil
	case members[0] == me:
		return proto.Recipient{Name: members[1]}, nil
	case members[1] == me:
		return proto.Recipient{Name: members[0]}, nil
	}
	return proto.Recipient{}, fmt.Errorf("conversation %s is not one of @%s's", conv, me)
}
