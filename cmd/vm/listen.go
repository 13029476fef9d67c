package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// listenFlags are the options of vm listen.
type listenFlags struct {
	to     string
	out    string
	format string
}

func (a *app) listenCmd() *cobra.Command {
	var f listenFlags
	cmd := &cobra.Command{
		Use:   "listen [--to @user|#channel] [--out DIR] [--format ogg|wav]",
		Short: "Play live talk and new messages, or write them to files, until stopped",
		Long: "Play live talk as it arrives and each new message on the speaker, printing one line\n" +
			"per message: time, conversation, sender and duration. A message played to the\n" +
			"end, live or stored, is marked listened, so its sender sees it heard. With --out,\n" +
			"write each new message to DIR/PEER or DIR/CHANNEL once it is stored, as vm fetch\n" +
			"does, and print its path; a written message is not marked listened. Runs until\n" +
			"SIGINT or SIGTERM; messages that arrive while it is not running are left for\n" +
			"vm fetch.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runListen(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "only this conversation: @handle or #channel")
	fl.StringVar(&f.out, "out", "", "write messages to this directory, created if missing, instead of playing them")
	fl.StringVar(&f.format, "format", "ogg", "file format with --out: ogg (as stored) or wav (16-bit PCM)")
	return cmd
}

// listenRun is the state of one vm listen.
type listenRun struct {
	a       *app
	f       listenFlags
	s       *session
	me      string
	conv    string // conversation id from --to, or ""
	fetched *client.FetchedLog
}

func (a *app) runListen(ctx context.Context, f listenFlags) error {
	if f.format != "ogg" && f.format != "wav" {
		return usagef("invalid --format %q: use ogg or wav", f.format)
	}
	if f.to != "" {
		if _, err := proto.ParseRecipient(f.to); err != nil {
			return usageError{err}
		}
	}
	if f.out != "" {
		if err := checkOutDir(f.out); err != nil {
			return err
		}
	}
	s, p, cfg, err := a.newSession()
	if err != nil {
		return err
	}
	defer s.close()
	if f.to != "" {
		if err := s.checkConversation(ctx, f.to); err != nil {
			return err
		}
	}
	if f.out == "" {
		// The engine opens its own connection.
		s.close()
		return a.listenToSpeaker(ctx, p, cfg, f)
	}
	// A written message gets no listen receipt, because writing a file is
	// not hearing it. vm fetch sends none either.
	fetched, _, err := client.OpenFetchedLog(filepath.Join(p.Home, client.FetchedFile))
	if err != nil {
		return err
	}
	r := &listenRun{a: a, f: f, s: s, fetched: fetched}
	return r.run(ctx)
}

// checkOutDir creates dir when it is missing and checks that it is a
// directory where vm can create files, so that vm listen --out fails at
// start instead of skipping every message.
func checkOutDir(dir string) error {
	fail := func(err error) error {
		return fmt.Errorf("output directory %s is not usable: %w: pass --out a writable directory", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail(err)
	}
	probe, err := os.CreateTemp(dir, ".vm-listen-check-*")
	if err != nil {
		return fail(err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return fail(err)
	}
	return nil
}

// checkConversation connects and checks that recipient to, as --to
// gives it, names a user or a channel of the caller. When the relay
// cannot be reached it only logs that, and the check is left to the
// relay's later responses.
func (s *session) checkConversation(ctx context.Context, to string) error {
	c, err := s.connect(ctx)
	if client.IsTransient(err) {
		s.log.Warn("cannot check --to: relay unreachable", "to", to, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	me, err := handleOf(c)
	if err != nil {
		return err
	}
	r, _ := proto.ParseRecipient(to)
	_, err = c.List(ctx, client.ListOptions{Conversation: proto.ConversationFor(me, r), Limit: 1})
	switch {
	case client.IsTransient(err):
		s.log.Warn("cannot check --to", "to", to, "err", err)
		s.close()
		return nil
	case err != nil:
		return fmt.Errorf("invalid --to %s: %w", to, err)
	}
	return nil
}

// run keeps a session open and writes each stored message, reconnecting
// with the app's backoff, its last wait repeated, until ctx ends.
func (r *listenRun) run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := r.serve(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !client.IsTransient(err) {
			return r.s.explain(err)
		}
		wait := time.Second
		if n := len(r.a.backoff); n > 0 {
			wait = r.a.backoff[min(attempt, n-1)]
		}
		r.s.log.Info("reconnecting", "dur", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// serve runs one session until it ends.
func (r *listenRun) serve(ctx context.Context) error {
	c, err := r.s.connect(ctx)
	if err != nil {
		return err
	}
	r.s.conn = nil // the session owns the connection from here on
	if r.me, err = handleOf(c); err != nil {
		c.Close()
		return err
	}
	if r.f.to != "" {
		to, _ := proto.ParseRecipient(r.f.to)
		r.conv = proto.ConversationFor(r.me, to)
	}
	sess, err := client.OpenSession(ctx, c, client.SessionOptions{Logger: r.s.log})
	if err != nil {
		return err
	}
	defer sess.Close()
	if r.a.listenReady != nil {
		r.a.listenReady()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-sess.Events():
			if !ok {
				return sess.Err()
			}
			if m := ev.Msg.GetMessageStored(); m != nil && r.wanted(m) {
				r.write(ctx, sess.Conn(), m)
			}
		}
	}
}

// wanted reports whether a stored message is for this listen: from
// someone else, in the --to conversation if given, and not written before.
func (r *listenRun) wanted(m *pb.MessageInfo) bool {
	return m.GetSender() != r.me && (r.conv == "" || m.GetConversation() == r.conv) &&
		!r.fetched.Has(m.GetConversation(), m.GetMessageId())
}

// write fetches one message, writes it and prints its path. A failure is
// logged and skipped, so one bad message does not stop the listener.
func (r *listenRun) write(ctx context.Context, c *client.Conn, m *pb.MessageInfo) {
	conv, id := m.GetConversation(), m.GetMessageId()
	path, err := client.MessagePath(r.f.out, r.me, m, r.f.format)
	if err == nil {
		var blob []byte
		if _, blob, err = c.Fetch(ctx, conv, id); err == nil {
			err = writeMessage(r.f.out, path, blob, r.f.format)
		}
	}
	if err == nil {
		err = r.fetched.Add(conv, id)
	}
	if err != nil {
		r.s.log.Warn("write message", "msg_id", id, "conv", conv, "err", err)
		fmt.Fprintf(r.a.stderr, "vm: message %s in %s: %v\n", id, proto.DisplayConversation(conv, r.me), err)
		return
	}
	fmt.Fprintln(r.a.stdout, path)
}

// listenToSpeaker plays live talk and new messages through an Engine.
func (a *app) listenToSpeaker(ctx context.Context, p config.Paths, cfg config.Client, f listenFlags) error {
	mic, speaker, _ := a.audioSettings()
	// With --to, live talk of other conversations must not play, so
	// speakerListen starts the live talk it wants itself.
	e, err := client.NewEngine(ctx, client.EngineOptions{Paths: p, Relay: cfg.Relay,
		CaptureDevice: mic, PlaybackDevice: speaker, Logger: a.logger(), AutoPlayLive: f.to == "",
		OpenPlayback: a.openPlayback,
		Conn: client.Options{ClientVersion: "vm " + version, HandshakeTimeout: a.handshakeTimeout,
			RequestTimeout: a.requestTimeout}})
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.WaitSpeaker(ctx); errors.Is(err, client.ErrNoSpeaker) {
		// SpeakerError already contains how to choose another device.
		return fmt.Errorf("%s; to write the messages to files instead, pass --out DIR", e.Status().SpeakerError)
	} else if err != nil {
		return nil // ctx ended
	}
	pl := &speakerListen{a: a, e: e, f: f, live: map[string]bool{}}
	return pl.run(ctx)
}

// speakerListen is vm listen without --out.
type speakerListen struct {
	a     *app
	e     *client.Engine
	f     listenFlags
	me    string
	conv  string
	live  map[string]bool // messages heard live
	queue []*client.MessageState
	busy  bool // a stored message is playing
}

func (l *speakerListen) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-l.e.Events():
			if err := l.handle(ev); err != nil {
				return err
			}
		}
	}
}

// handle reacts to one engine event.
func (l *speakerListen) handle(ev client.EngineEvent) error {
	switch ev.Kind {
	case client.EventConnected:
		l.me = ev.Handle
		if l.f.to != "" {
			to, _ := proto.ParseRecipient(l.f.to)
			l.conv = proto.ConversationFor(l.me, to)
		}
		if l.a.listenReady != nil {
			l.a.listenReady()
		}
	case client.EventDisconnected:
		l.a.logger().Warn("disconnected from relay", "err", ev.Err)
	case client.EventTalkStarted:
		l.talkStarted(ev)
	case client.EventMessageStored:
		l.stored(ev.Message)
	case client.EventPlaybackEnded:
		l.busy = false
		l.playNext()
	}
	return nil
}

// talkStarted notes a live talk, which the engine plays unless --to is
// given. With --to, it plays the talk when it is in that conversation.
func (l *speakerListen) talkStarted(ev client.EngineEvent) {
	if l.f.to == "" {
		l.live[ev.MessageID] = true
		return
	}
	if ev.Conversation != l.conv {
		return
	}
	if err := l.e.Play(ev.Conversation, ev.MessageID, client.PlayOptions{Speed: 1}); err != nil {
		fmt.Fprintf(l.a.stderr, "vm: play live talk %s in %s: %v\n", ev.MessageID,
			proto.DisplayConversation(ev.Conversation, l.me), err)
		return
	}
	l.live[ev.MessageID] = true
}

// stored prints a new message and queues it for playback unless it was
// heard live.
func (l *speakerListen) stored(m *client.MessageState) {
	if m == nil || m.Sender == l.me || (l.conv != "" && m.Conversation != l.conv) {
		return
	}
	fmt.Fprintf(l.a.stdout, "%s %s @%s %s\n", m.Time.Local().Format("15:04:05"),
		proto.DisplayConversation(m.Conversation, l.me), m.Sender, m.Duration.Round(10*time.Millisecond))
	if l.live[m.ID] {
		delete(l.live, m.ID)
		return
	}
	l.queue = append(l.queue, m)
	l.playNext()
}

// playNext plays the next queued message when nothing is playing.
func (l *speakerListen) playNext() {
	for !l.busy && len(l.queue) > 0 {
		m := l.queue[0]
		l.queue = l.queue[1:]
		if err := l.e.Play(m.Conversation, m.ID, client.PlayOptions{Speed: 1}); err != nil {
			fmt.Fprintf(l.a.stderr, "vm: play message %s: %v\n", m.ID, err)
			continue
		}
		l.busy = true
	}
}
