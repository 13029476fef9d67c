// Command relay runs the vm relay daemon: `relay serve` serves vm
// clients over QUIC, `relay invite` creates a registration invite token,
// and `relay version` prints the version. Every flag can also be set by
// an environment variable RELAY_<FLAG_IN_UPPER_SNAKE_CASE>, e.g.
// RELAY_MAX_MESSAGE_BYTES; a flag on the command line wins.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		stop()
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "relay",
		Short:         "Self-hosted relay of the vm voice messaging platform",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := config.ApplyRelayEnv(cmd.Flags(), os.Getenv); err != nil {
				return err
			}
			// Settings from the file fill only what flags and the
			// environment left unset.
			if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
				return config.ApplyRelayFile(cmd.Flags(), f.Value.String())
			}
			return nil
		},
	}
	root.AddCommand(newServeCmd(), newInviteCmd(), newVersionCmd())
	return root
}

// addDataFlag adds --data with its default, the XDG data directory.
func addDataFlag(cmd *cobra.Command, dir *string) {
	def, err := config.DefaultRelayDataDir(os.Getenv)
	if err != nil {
		def = ""
	}
	cmd.Flags().StringVar(dir, "data", def, "data directory for the TLS certificate, metadata, audio and invites")
}
