package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/relay"
)

func newInviteCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "invite",
		Short: "Create a single-use invite token for vm register --invite",
		Long: `Create a single-use invite token and print it.

The token is stored, hashed, under the data directory's invites folder. A
running relay accepts it at once, so the relay need not be stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataDir == "" {
				return fmt.Errorf("missing data directory: set --data")
			}
			token, err := relay.NewInvite(dataDir)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	addDataFlag(cmd, &dataDir)
	return cmd
}
