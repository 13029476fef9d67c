package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// maxListPages bounds the List requests of one vm fetch.
const maxListPages = 1000

// fetchFlags are the options of vm fetch.
type fetchFlags struct {
	to     string
	since  string
	out    string
	format string
	all    bool
	again  bool
}

func (a *app) fetchCmd() *cobra.Command {
	var f fetchFlags
	cmd := &cobra.Command{
		Use:   "fetch [--to @user|#channel] [--since TIME] [--out DIR] [--format ogg|wav]",
		Short: "Download new messages as Ogg Opus or WAV files",
		Long: "Download the messages that arrived since the last fetch and print the path of each\n" +
			"written file. Files go to DIR/PEER or DIR/CHANNEL, named TIME-SENDER-ID.ogg.\n" +
			"Without --since and --all, the relay's delivery cursor moves past the fetched\n" +
			"messages. A message fetched before is skipped unless --again is given.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runFetch(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "only this conversation: @handle or #channel")
	fl.StringVar(&f.since, "since", "", "messages created at or after TIME: RFC 3339 (2025-01-02T15:04:05Z) or an age such as 2h")
	fl.StringVar(&f.out, "out", "", "output directory (default <home>/messages with --home or VM_HOME, else $XDG_DATA_HOME/vm/messages)")
	fl.StringVar(&f.format, "format", "ogg", "file format: ogg (as stored) or wav (16-bit PCM)")
	fl.BoolVar(&f.all, "all", false, "list every stored message, not only those after the delivery cursor")
	fl.BoolVar(&f.again, "again", false, "download messages that were fetched before, too")
	return cmd
}

// fetchRun is the state of one vm fetch.
type fetchRun struct {
	a       *app
	f       fetchFlags
	out     string
	me      string
	fetched *client.FetchedLog
	seen    map[string]bool // message keys handled in this run
	errs    []error
}

func (a *app) runFetch(ctx context.Context, f fetchFlags) error {
	if f.format != "ogg" && f.format != "wav" {
		return usagef("invalid --format %q: use ogg or wav", f.format)
	}
	since, err := parseSince(f.since, time.Now())
	if err != nil {
		return err
	}
	s, p, _, err := a.newSession()
	if err != nil {
		return err
	}
	defer s.close()
	fetched, malformed, err := client.OpenFetchedLog(filepath.Join(p.Home, client.FetchedFile))
	if err != nil {
		return err
	}
	if malformed > 0 {
		s.log.Warn("skipped malformed lines in the fetched record", "lines", malformed)
	}
	r := &fetchRun{a: a, f: f, out: f.out, fetched: fetched, seen: map[string]bool{}}
	if r.out == "" {
		r.out = p.Messages
	}
	err = s.do(ctx, func(ctx context.Context, c *client.Conn) error {
		return r.fetchAll(ctx, c, since)
	})
	return errors.Join(append([]error{err}, r.errs...)...)
}

// parseSince parses --since as RFC 3339 or as an age before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("invalid --since %q: use RFC 3339 such as 2025-01-02T15:04:05Z, or an age such as 2h", s)
}

// fetchAll lists and downloads pages of messages until none is new. It is
// safe to repeat after a failure, because handled messages are skipped.
func (r *fetchRun) fetchAll(ctx context.Context, c *client.Conn, since time.Time) error {
	me, err := handleOf(c)
	if err != nil {
		return err
	}
	r.me, r.errs = me, nil
	opt := client.ListOptions{Since: since, All: r.f.all}
	if r.f.to != "" {
		to, err := r.a.recipient(r.f.to, "")
		if err != nil {
			return err
		}
		opt.Conversation = proto.ConversationFor(me, to)
	}
	cursorMode := since.IsZero() && !r.f.all
	if cursorMode || opt.Conversation != "" {
		return r.fetchPages(ctx, c, opt, cursorMode)
	}
	// The relay fills a listing of all conversations one conversation
	// after another, so the time of a page's newest message is no bound
	// for the other conversations. Paging by time works within one.
	convs, err := c.ListConversations(ctx)
	if err != nil {
		return err
	}
	for _, conv := range convs {
		opt.Conversation = conv.GetId()
		if err := r.fetchPages(ctx, c, opt, false); err != nil {
			return err
		}
	}
	return nil
}

// fetchPages lists and downloads pages of messages until none is new. In
// cursor mode each page starts after the delivery cursors that the last
// page moved. Otherwise the next page starts at the time of the newest
// message so far, which works only within one conversation.
func (r *fetchRun) fetchPages(ctx context.Context, c *client.Conn, opt client.ListOptions, cursorMode bool) error {
	for range maxListPages {
		list, err := c.List(ctx, opt)
		if err != nil {
			return err
		}
		progress, err := r.fetchPage(ctx, c, list.GetMessages(), cursorMode)
		if err != nil || !list.GetTruncated() || !progress {
			return err
		}
		if !cursorMode {
			opt.All, opt.Since = false, latest(list.GetMessages())
		}
	}
	return nil
}

// fetchPage downloads the messages of one list response and, in cursor mode,
// acknowledges each conversation up to the first message that failed. It
// reports whether the page held a message not handled before in this run.
func (r *fetchRun) fetchPage(ctx context.Context, c *client.Conn, msgs []*pb.MessageInfo, cursorMode bool) (bool, error) {
	sort.SliceStable(msgs, func(i, j int) bool {
		if msgs[i].GetConversation() != msgs[j].GetConversation() {
			return msgs[i].GetConversation() < msgs[j].GetConversation()
		}
		return msgs[i].GetSeq() < msgs[j].GetSeq()
	})
	progress := false
	ack := map[string]uint64{}
	blocked := map[string]bool{}
	for _, m := range msgs {
		conv, key := m.GetConversation(), m.GetConversation()+" "+m.GetMessageId()
		if !r.seen[key] {
			progress = true
		}
		err := r.fetchOne(ctx, c, m)
		if client.IsTransient(err) {
			return progress, err
		}
		r.seen[key] = true
		var outErr *outputError
		if errors.As(err, &outErr) {
			// Every later message would fail the same way.
			return progress, err
		}
		if err != nil {
			r.errs = append(r.errs, err)
			blocked[conv] = true
			continue
		}
		if !blocked[conv] {
			ack[conv] = max(ack[conv], m.GetSeq())
		}
	}
	if !cursorMode {
		return progress, nil
	}
	return progress, r.acknowledge(ctx, c, ack)
}

// fetchOne downloads one message unless it was fetched before, writes it,
// records it and prints its path.
func (r *fetchRun) fetchOne(ctx context.Context, c *client.Conn, m *pb.MessageInfo) error {
	conv, id := m.GetConversation(), m.GetMessageId()
	if r.seen[conv+" "+id] || (!r.f.again && r.fetched.Has(conv, id)) {
		return nil
	}
	path, err := client.MessagePath(r.out, r.me, m, r.f.format)
	if err != nil {
		return fmt.Errorf("fetch message %s: %w", id, err)
	}
	_, blob, err := c.Fetch(ctx, conv, id)
	if err != nil {
		return err
	}
	err = writeMessage(r.out, path, blob, r.f.format)
	var outErr *outputError
	if errors.As(err, &outErr) {
		return err
	}
	if err != nil {
		return fmt.Errorf("fetch message %s: %w", id, err)
	}
	if err := r.fetched.Add(conv, id); err != nil {
		return err
	}
	fmt.Fprintln(r.a.stdout, path)
	return nil
}

// acknowledge moves the delivery cursor of each conversation to its seq.
func (r *fetchRun) acknowledge(ctx context.Context, c *client.Conn, ack map[string]uint64) error {
	convs := make([]string, 0, len(ack))
	for conv := range ack {
		convs = append(convs, conv)
	}
	sort.Strings(convs)
	for _, conv := range convs {
		if err := c.AckDelivery(ctx, conv, ack[conv]); err != nil {
			return err
		}
	}
	return nil
}

// outputError is a failure to create or write a file under the output
// directory, which repeats for every message, unlike a message's own
// failure such as a damaged blob.
type outputError struct {
	out string
	err error
}

func (e *outputError) Error() string {
	return fmt.Sprintf("write to output directory %s: %v: pass --out a writable directory", e.out, e.err)
}

func (e *outputError) Unwrap() error { return e.err }

// writeMessage writes an Ogg Opus blob to path under out, as it is or
// converted to WAV, creating the directory with mode 0700. A failure to
// create or write the file is an *outputError.
func writeMessage(out, path string, blob []byte, format string) error {
	data := blob
	if format == "wav" {
		pcm, err := audio.DecodeOggOpus(bytes.NewReader(blob), int64(len(blob)))
		if err != nil {
			return fmt.Errorf("decode for WAV: %w", err)
		}
		var buf bytes.Buffer
		if err := audio.EncodeWAV(&buf, pcm); err != nil {
			return fmt.Errorf("encode WAV: %w", err)
		}
		data = buf.Bytes()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return &outputError{out: out, err: err}
	}
	if err := config.WriteFileAtomic(path, data, 0o600); err != nil {
		return &outputError{out: out, err: err}
	}
	return nil
}

// latest returns the newest creation time in msgs.
func latest(msgs []*pb.MessageInfo) time.Time {
	var ms int64
	for _, m := range msgs {
		ms = max(ms, m.GetCreatedUnixMs())
	}
	return time.UnixMilli(ms)
}
