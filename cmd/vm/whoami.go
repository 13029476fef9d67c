package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/client"
)

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the handle, relay, key fingerprint and home directory",
		Long:  "Show the local identity and configuration. whoami does not contact the relay.",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.runWhoami()
		},
	}
}

func (a *app) runWhoami() error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	cfg, err := a.settings(p)
	if err != nil {
		return err
	}
	key := "(none: run vm init)"
	id, err := client.LoadIdentity(p.Home)
	switch {
	case err == nil:
		key = id.Fingerprint()
	case !errors.Is(err, client.ErrNoIdentity):
		return err
	}
	handle, relay := "(none: run vm register)", "(none: run vm register)"
	if cfg.Handle != "" {
		handle = "@" + cfg.Handle
	}
	if cfg.Relay != "" {
		relay = cfg.Relay
	}
	fmt.Fprintf(a.stdout, "handle: %s\nrelay:  %s\nkey:    %s\nhome:   %s\n", handle, relay, key, p.Home)
	return nil
}
