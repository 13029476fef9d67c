package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/relay"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the relay's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "relay %s %s\n", relay.Version, runtime.Version())
			return nil
		},
	}
}
