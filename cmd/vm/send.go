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

// maxInputBytes bounds the audio file that vm send reads.
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

	// Read and check the audio before the relay is contacted, and check
	// its length against the relay's limit before encoding.
	pcm, err := a.readAudio(file)
	if err != nil {
		return err
	}
	if err := s.do(ctx, checkDuration(file, pcm)); err != nil {
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

// readAudio decodes FILE, or standard input for "-", with errors that name
// the file and what is wrong with it.
func (a *app) readAudio(file string) (*audio.PCM, error) {
	var r io.Reader = a.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("send %s: %w", file, errors.Unwrap(err))
		}
		defer f.Close()
		r = f
	}
	pcm, err := audio.DecodeFile(r, maxInputBytes)
	switch {
	case errors.Is(err, audio.ErrNotAudio):
		return nil, fmt.Errorf("send %s: not an audio file (expected WAV or Ogg Opus)", file)
	case errors.Is(err, audio.ErrTruncated):
		return nil, fmt.Errorf("send %s: the audio is truncated or empty: %w", file, err)
	case errors.Is(err, audio.ErrUnsupported):
		return nil, fmt.Errorf("send %s: unsupported audio format: %w", file, err)
	case errors.Is(err, audio.ErrTooLarge):
		return nil, fmt.Errorf("send %s: larger than the limit of %d MiB", file, maxInputBytes>>20)
	case err != nil:
		return nil, fmt.Errorf("send %s: %w", file, err)
	}
	return pcm, nil
}

// checkDuration returns an operation that rejects audio longer than the
// relay's limit, before any time is spent on encoding.
func checkDuration(file string, pcm *audio.PCM) func(context.Context, *client.Conn) error {
	return func(_ context.Context, c *client.Conn) error {
		if _, err := handleOf(c); err != nil {
			return err
		}
		limit := time.Duration(c.LoginResult().GetMaxMessageMs()) * time.Millisecond
		if dur := pcm.Duration(); limit > 0 && dur > limit {
			return fmt.Errorf("send %s: the audio lasts %s, above the relay's limit of %s: split it or shorten it",
				file, dur.Round(time.Millisecond), limit)
		}
		return nil
	}
}
