package main

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/tui"
)

// uiLogFile is the log of the terminal UI in the home directory. The UI
// draws the whole screen, so its logs cannot go to stderr.
const uiLogFile = "vm.log"

// uiSettings contains the settings of the terminal UI from the command
// line, the environment and config.toml.
type uiSettings struct {
	paths        config.Paths
	cfg          config.Client
	mic, speaker string
	talkMode     tui.TalkMode
	verbose      bool
	stdin        io.Reader
	stdout       io.Writer
}

// runUI runs the terminal UI on the command's input and output until the
// user quits or the command's context ends.
func runUI(cmd *cobra.Command) error {
	s, err := loadUISettings(cmd, os.Getenv)
	if err != nil {
		return err
	}
	if !isTerminal(s.stdin) || !isTerminal(s.stdout) {
		return fmt.Errorf("the terminal UI needs a terminal on stdin and stdout: in scripts use vm send, vm fetch or vm listen")
	}
	logFile, log, err := openUILog(s.paths.Home, s.verbose)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log.Info("ui start", "peer", s.cfg.Relay)
	eng, err := client.NewEngine(cmd.Context(), engineOptions(s, log))
	if err != nil {
		return err
	}
	opt := tui.Options{TalkMode: s.talkMode, Relay: s.cfg.Relay, Handle: s.cfg.Handle, Logger: log}
	err = tui.Run(cmd.Context(), eng, opt, tea.WithInput(s.stdin), tea.WithOutput(s.stdout))
	log.Info("ui stop", "err", err)
	return err
}

// engineOptions returns the options of the UI's live engine.
func engineOptions(s uiSettings, log *slog.Logger) client.EngineOptions {
	return client.EngineOptions{
		Paths:          s.paths,
		Relay:          s.cfg.Relay,
		CaptureDevice:  s.mic,
		PlaybackDevice: s.speaker,
		Logger:         log,
		AutoPlayLive:   true,
		// The UI plays the next unheard message itself, so that the a key
		// can switch it while the UI runs.
		AutoPlayNext: false,
		Conn:         client.Options{Logger: log, ClientVersion: "vm " + version},
	}
}

// loadUISettings reads the global flags of cmd, which is the root
// command, and the configuration they point to.
func loadUISettings(cmd *cobra.Command, env config.Getenv) (uiSettings, error) {
	flags := cmd.Flags()
	home, _ := flags.GetString("home")
	relay, _ := flags.GetString("relay")
	mode, _ := flags.GetString("talk-mode")
	s := uiSettings{stdin: cmd.InOrStdin(), stdout: cmd.OutOrStdout()}
	s.mic, _ = flags.GetString("mic")
	s.speaker, _ = flags.GetString("speaker")
	s.verbose, _ = flags.GetBool("verbose")
	var err error
	if s.talkMode, err = tui.ParseTalkMode(mode); err != nil {
		return s, usageError{err}
	}
	if s.paths, err = config.ResolvePaths(home, env); err != nil {
		return s, err
	}
	if s.cfg, err = uiConfig(s.paths.Home, relay, env); err != nil {
		return s, err
	}
	// Flags win over config.toml.
	s.mic = cmp.Or(s.mic, s.cfg.Mic)
	s.speaker = cmp.Or(s.speaker, s.cfg.Speaker)
	if !flags.Changed("talk-mode") && s.cfg.TalkMode != "" {
		if s.talkMode, err = tui.ParseTalkMode(s.cfg.TalkMode); err != nil {
			return s, fmt.Errorf("config.toml talk_mode: %w", err)
		}
	}
	return s, nil
}

// uiConfig loads config.toml and the environment, applies the --relay
// flag and requires a relay address.
func uiConfig(home, relay string, env config.Getenv) (config.Client, error) {
	cfg, err := config.Load(home, env)
	if err != nil {
		return cfg, err
	}
	if relay != "" {
		cfg.Relay = relay
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if cfg.Relay == "" {
		return cfg, usagef("missing relay address: pass --relay HOST:PORT, set VM_RELAY, or run vm register")
	}
	return cfg, nil
}

// openUILog opens the UI's log file in home for appending: info and up,
// or debug with --verbose.
func openUILog(home string, verbose bool) (*os.File, *slog.Logger, error) {
	path := filepath.Join(home, uiLogFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("open UI log: %w", err)
	}
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return f, slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})), nil
}

// isTerminal reports whether f is a file open on a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(file.Fd())
}
