package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
)

// Exit codes of vm.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// app is the state shared by the subcommands of one vm run.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            config.Getenv

	// Global flags.
	home     string
	relay    string
	verbose  bool
	mic      string // capture device name; "" means the default
	speaker  string // playback device name; "" means the default
	talkMode string // push-to-talk mode of the UI: auto, hold or toggle

	// Tests shorten these to keep failures fast.
	backoff          []time.Duration
	handshakeTimeout time.Duration
	requestTimeout   time.Duration

	// listenReady, when set, is called each time vm listen has
	// subscribed to the relay's events.
	listenReady func()
	// openPlayback, when set, opens the speaker of vm listen in place of
	// PortAudio.
	openPlayback func(name string) (audio.FrameSink, error)
}

// usageError marks an error in the command line, which exits with
// exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run executes vm with args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env config.Getenv) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env, backoff: client.DefaultBackoff}
	return a.execute(ctx, args)
}

// execute runs the command line args and returns the exit code.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// Every failure is one line on stderr, so scripts can log it as is.
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	var usage usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(a.stderr, "vm: %s (see 'vm help')\n", msg)
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "vm: %s\n", msg)
	return exitError
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "vm",
		Short: "Push-to-talk voice messages through a self-hosted relay",
		Long: "vm sends and fetches voice messages through a relay that you run yourself.\n\n" +
			"Start with 'vm init', then 'vm register HANDLE --relay HOST:PORT'.",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkTalkMode(a.talkMode); err != nil {
				return err
			}
			return runUI(cmd)
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.home, "home", "", "directory of the identity and configuration (default $VM_HOME, else $XDG_CONFIG_HOME/vm)")
	pf.StringVar(&a.relay, "relay", "", "relay address HOST:PORT (default from $VM_RELAY or config.toml)")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log debug messages and retries to stderr")
	pf.StringVar(&a.mic, "mic", "", "microphone: a device name from 'vm devices' (default: the system's default input)")
	pf.StringVar(&a.speaker, "speaker", "", "speaker: a device name from 'vm devices' (default: the system's default output)")
	pf.StringVar(&a.talkMode, "talk-mode", "", "push-to-talk key mode of the UI: auto, hold or toggle (default auto)")
	root.AddCommand(a.initCmd(), a.registerCmd(), a.sendCmd(), a.fetchCmd(),
		a.channelCmd(), a.whoamiCmd(), a.versionCmd(), a.listenCmd(), a.devicesCmd())
	return root
}

// noArgs rejects positional arguments as a usage error. On the root
// command it reports an unknown subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !cmd.HasParent() {
		return usagef("unknown command %q", args[0])
	}
	return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
}

// exactArgs requires n positional arguments, named in the message.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s needs %s, got %d arguments", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

// logger returns the logger for this run: warnings only, or debug
// messages with --verbose.
func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

// paths resolves the client's directories from --home and the environment.
func (a *app) paths() (config.Paths, error) {
	return config.ResolvePaths(a.home, a.env)
}

// settings loads the configuration and applies the --relay flag.
func (a *app) settings(p config.Paths) (config.Client, error) {
	c, err := config.Load(p.Home, a.env)
	if err != nil {
		return config.Client{}, err
	}
	if a.relay != "" {
		c.Relay = a.relay
	}
	if err := c.Validate(); err != nil {
		return config.Client{}, err
	}
	return c, nil
}

// Push-to-talk modes of the terminal UI.
const (
	TalkModeAuto   = "auto"   // hold where the terminal reports key release, else infer it
	TalkModeHold   = "hold"   // talk while the key is held
	TalkModeToggle = "toggle" // one press starts, the next stops
)

// checkTalkMode rejects a --talk-mode other than auto, hold or toggle.
func checkTalkMode(mode string) error {
	switch mode {
	case "", TalkModeAuto, TalkModeHold, TalkModeToggle:
		return nil
	}
	return usagef("invalid --talk-mode %q: use auto, hold or toggle", mode)
}

// audioSettings returns the microphone, speaker and talk mode: the flags
// where given, else config.toml's mic, speaker and talk_mode, else the
// defaults.
func (a *app) audioSettings() (mic, speaker, talkMode string) {
	mic, speaker, talkMode = a.mic, a.speaker, a.talkMode
	if paths, err := config.ResolvePaths(a.home, a.env); err == nil {
		if cfg, err := config.Load(paths.Home, a.env); err == nil {
			mic = cmp.Or(mic, cfg.Mic)
			speaker = cmp.Or(speaker, cfg.Speaker)
			talkMode = cmp.Or(talkMode, cfg.TalkMode)
		}
	}
	return mic, speaker, cmp.Or(talkMode, TalkModeAuto)
}
