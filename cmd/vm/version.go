package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/proto"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version of vm, Go and the protocol",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(a.stdout, "vm %s\ngo %s\nprotocol %s\n", version, runtime.Version(), proto.ALPN)
			return nil
		},
	}
}
