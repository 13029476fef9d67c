package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/proto"
)

// maxInputBytes bounds the bytes of the audio file that vm send reads.
// The relay's duration limit usually stops a WAV file much earlier.
const maxInputBytes = 256 << 20

// sendFlags are the options of vm send.
type sendFlags struct {
	to         string
	bitrate    int
	complexity int
}

func (a *app) sendCmd() *cobra.Command {
	var f sendFlags
	cmd := &cobra.Command{
		Use:   "send FILE|- --to @user|#channel",
		Short: "Send an audio file as a voice message",
		Long: "Send a WAV or Ogg Opus file (or standard input, with -) as a voice message. vm send\n" +
			"prints the message id and exits 0 only after the relay has stored the message durably.\n" +
			"Transient failures are retried with the same message id, so the message is stored once.",
		Args: exactArgs(1, "one FILE, or - for standard input"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runSend(cmd.Context(), args[0], f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "recipient: @handle or #channel (default from $VM_TO or config.toml)")
	fl.IntVar(&f.bitrate, "bitrate", audio.DefaultBitrate, "Opus target bitrate in bit/s, 6000 to 510000")
	fl.IntVar(&f.complexity, "complexity", audio.DefaultComplexity, "Opus encoder complexity, 1 (fastest) to 10 (best)")
	return cmd
}

func (a *app) runSend(ctx context.Context, file string, f sendFlags) error {
	if f.bitrate < 6000 || f.bitrate > 510000 {
		return usagef("invalid --bitrate %d: use 6000 to 510000 bit/s", f.bitrate)
	}
	if f.complexity < 1 || f.complexity > 10 {
		return usagef("invalid --complexity %d: use 1 to 10", f.complexity)
	}

	s, _, cfg, err := a.newSession()
	if err != nil {
		return err
	}
	defer s.close()
	to, err := a.recipient(f.to, cfg.To)
	if err != nil {
		return err
	}

	// Check the file's header before the relay is contacted, and the
	// length it declares against the relay's limit before decoding.
	src, closeFile, err := a.openAudio(file)
	if err != nil {
		return err
	}
	defer closeFile()
	var limit time.Duration
	if err := s.do(ctx, func(_ context.Context, c *client.Conn) (err error) {
		limit, err = relayLimit(c)
		return err
	}); err != nil {
		return err
	}
	pcm, err := decodeAudio(file, src, limit)
	if err != nil {
		return err
	}

	enc, err := audio.EncodePCM(pcm, audio.EncoderOptions{Bitrate: f.bitrate, Complexity: f.complexity, NoFEC: true})
	if err != nil {
		return fmt.Errorf("send %s: %w", file, err)
	}
	// One id for every attempt, so the relay stores a retried upload once.
	msgID := client.NewMessageID()
	err = s.do(ctx, func(ctx context.Context, c *client.Conn) error {
		_, err := c.Send(ctx, to, enc, msgID)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, msgID)
	return nil
}

// recipient parses the --to flag, or the configured default.
func (a *app) recipient(flag, configured string) (proto.Recipient, error) {
	to := flag
	if to == "" {
		to = configured
	}
	if to == "" {
		return proto.Recipient{}, usagef("missing --to: name a recipient as @handle or #channel")
	}
	r, err := proto.ParseRecipient(to)
	if err != nil {
		return proto.Recipient{}, usageError{err}
	}
	return r, nil
}

// openAudio opens FILE, or standard input for "-", and reads its header,
// with errors that name the file and what is wrong with it.
func (a *app) openAudio(file string) (*audio.Source, func(), error) {
	var r io.Reader = a.stdin
	closeFile := func() {}
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, nil, fmt.Errorf("send %s: %w", file, errors.Unwrap(err))
		}
		r, closeFile = f, func() { f.Close() }
	}
	src, err := audio.OpenFile(r, maxInputBytes)
	if err != nil {
		closeFile()
		return nil, nil, audioError(file, err)
	}
	return src, closeFile, nil
}

// decodeAudio decodes src to mono and rejects it when it lasts longer
// than limit, before decoding when the header declares its length.
func decodeAudio(file string, src *audio.Source, limit time.Duration) (*audio.PCM, error) {
	if d, ok := src.Duration(); ok && limit > 0 && d > limit {
		return nil, tooLong(file, &audio.TooLongError{Duration: d, Exact: true, Limit: limit})
	}
	pcm, err := src.DecodeMono(limit)
	if err != nil {
		return nil, audioError(file, err)
	}
	return pcm, nil
}

// audioError adds the file name to an error of package audio. The audio
// errors name the limit or field that failed, so they are kept whole.
func audioError(file string, err error) error {
	var long *audio.TooLongError
	if errors.As(err, &long) {
		return tooLong(file, long)
	}
	return fmt.Errorf("send %s: %w", file, err)
}

func tooLong(file string, e *audio.TooLongError) error {
	if !e.Exact {
		return fmt.Errorf("send: %s lasts longer than the relay's limit of %s: split it or shorten it", file, e.Limit)
	}
	return fmt.Errorf("send: %s lasts %s, longer than the relay's limit of %s: split it or shorten it",
		file, e.Duration.Round(time.Millisecond), e.Limit)
}

// relayLimit returns the relay's maximum message duration, 0 when it
// states none, after checking that the identity has a handle there.
func relayLimit(c *client.Conn) (time.Duration, error) {
	if _, err := handleOf(c); err != nil {
		return 0, err
	}
	return time.Duration(c.LoginResult().GetMaxMessageMs()) * time.Millisecond, nil
}
