package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/client"
)

func (a *app) initCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create an identity key pair",
		Long: "Create an Ed25519 identity key pair in the home directory: identity (private, mode 0600)\n" +
			"and identity.pub. Prints the key's fingerprint on stdout.",
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			return a.runInit(force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing identity; its handles on relays are lost")
	return cmd
}

func (a *app) runInit(force bool) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	id, err := client.GenerateIdentity()
	if err != nil {
		return err
	}
	path := filepath.Join(p.Home, client.IdentityFile)
	if err := id.Save(p.Home, force); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("identity %s exists: keep it, or pass --force to replace it and lose its handles", path)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "vm: wrote identity key to %s\n", path)
	fmt.Fprintln(a.stdout, id.Fingerprint())
	return nil
}
