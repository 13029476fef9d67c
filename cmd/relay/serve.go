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
			if a := srv.HTTPAddr(); a != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "relay http listening on %s\n", a)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "relay listening on %s fingerprint %s\n", srv.Addr(), srv.CertFingerprint())
			return srv.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", config.DefaultRelayListen, "UDP address to serve QUIC on")
	addDataFlag(cmd, &cfg.DataDir)
	f.StringVar(&cfg.Registration, "registration", relay.RegistrationOpen, "who may register a handle: open, invite (needs a token from relay invite) or closed")
	f.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate file (default: a self-signed certificate made in the data directory)")
	f.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key file of --tls-cert (default: none)")
	f.StringVar(&cfg.HTTPListen, "http-listen", "", "TCP address for /metrics and /healthz (default: none, no HTTP listener)")
	f.DurationVar(&cfg.MaxMessageDuration, "max-message-duration", relay.DefaultMaxMessageDuration, "longest message accepted")
	f.Int64Var(&cfg.MaxMessageBytes, "max-message-bytes", relay.DefaultMaxMessageBytes, "largest message accepted, in bytes of Opus packets")
	f.IntVar(&cfg.MaxConnections, "max-connections", relay.DefaultMaxConnections, "maximum client connections open at once; the relay closes each one over it")
	addStoreFlags(cmd, &cfg)
	addRetentionFlags(cmd, &cfg)
	f.String("config", "", "TOML file of settings named like these flags; flags and RELAY_* variables win over it (default: none)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	return cmd
}

// addStoreFlags adds the blob store settings. S3 credentials come from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or
// from the AWS shared credentials file, never from a flag, so they do not
// show in the process list.
func addStoreFlags(cmd *cobra.Command, cfg *relay.Config) {
	f := cmd.Flags()
	f.StringVar(&cfg.Store, "store", relay.StoreDisk, "where message audio is kept: disk (under --data) or s3")
	f.StringVar(&cfg.S3.Endpoint, "s3-endpoint", "", "S3 endpoint URL, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7070 (default: none)")
	f.StringVar(&cfg.S3.Bucket, "s3-bucket", "", "S3 bucket name (default: none)")
	f.StringVar(&cfg.S3.Region, "s3-region", "", "S3 region (default: none, ask the service for the bucket's region)")
	f.StringVar(&cfg.S3.Prefix, "s3-prefix", "", "key prefix for every object, e.g. vm/ (default: none)")
	f.BoolVar(&cfg.S3.PathStyle, "s3-path-style", false, "use path-style addressing (endpoint/bucket/key), as MinIO, Ceph and versitygw need (default false)")
}

// addRetentionFlags adds the retention settings and the hidden
// --orphan-grace, which tests set near zero so that a sweep at start
// deletes every blob without metadata. Near zero is safe only while no
// upload is in flight on any relay sharing the store.
func addRetentionFlags(cmd *cobra.Command, cfg *relay.Config) {
	f := cmd.Flags()
	f.DurationVar(&cfg.RetentionMaxAge, "retention-max-age", 0, "delete messages older than this, e.g. 720h (default 0: keep forever)")
	f.Int64Var(&cfg.RetentionUserQuota, "retention-user-quota", 0, "most bytes of audio kept per sender; over it the sender's oldest messages are deleted (default 0: no limit)")
	f.DurationVar(&cfg.OrphanGrace, "orphan-grace", relay.DefaultOrphanGrace, "age at which the recovery sweep deletes a blob without metadata")
	f.MarkHidden("orphan-grace")
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
