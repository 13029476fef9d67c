package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/relay"
)

func newServeCmd() *cobra.Command {
	var cfg relay.Config
	var logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve vm clients until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			srv, err := relay.New(cfg, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "relay listening on %s fingerprint %s\n", srv.Addr(), srv.CertFingerprint())
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", config.DefaultRelayListen, "UDP address to serve QUIC on")
	addDataFlag(cmd, &cfg.DataDir)
	f.StringVar(&cfg.Registration, "registration", relay.RegistrationOpen, "who may register a handle: open, invite (needs a token from relay invite) or closed")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate file; default: a self-signed certificate made in the data directory")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key file of --tls-cert")
	f.StringVar(&cfg.HTTPListen, "http-listen", "", "TCP address for /metrics and /healthz; empty: none")
	f.DurationVar(&cfg.MaxMessageDuration, "max-message-duration", relay.DefaultMaxMessageDuration, "longest message accepted")
	f.Int64Var(&cfg.MaxMessageBytes, "max-message-bytes", relay.DefaultMaxMessageBytes, "largest message accepted, in bytes of Opus packets")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	return cmd
}

// newLogger returns a logger that writes to stderr.
func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("invalid log format %q: use text or json", format)
}
