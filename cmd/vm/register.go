package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
)

func (a *app) registerCmd() *cobra.Command {
	var invite string
	cmd := &cobra.Command{
		Use:   "register HANDLE --relay HOST:PORT",
		Short: "Register a handle for this identity on a relay",
		Long: "Connect to the relay, pin its certificate key on first use, and claim HANDLE for this\n" +
			"identity. The relay address and handle are saved in config.toml. Registering the handle\n" +
			"that the identity already has succeeds again.",
		Args: exactArgs(1, "a HANDLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runRegister(cmd.Context(), args[0], invite)
		},
	}
	cmd.Flags().StringVar(&invite, "invite", "", "invite token from the relay's operator, if registration is invite-only")
	return cmd
}

func (a *app) runRegister(ctx context.Context, handle, invite string) error {
	handle = trimSigil(handle, '@')
	if err := proto.CheckName("handle", handle); err != nil {
		return usageError{err}
	}
	s, p, _, err := a.newSession()
	if err != nil {
		return err
	}
	defer s.close()
	err = s.do(ctx, func(ctx context.Context, c *client.Conn) error {
		return register(ctx, c, handle, invite)
	})
	if err != nil {
		return err
	}
	file, err := config.ReadFile(p.Home)
	if err != nil {
		return err
	}
	file.Relay, file.Handle = s.addr, handle
	if err := config.WriteFile(p.Home, file); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "registered @%s on %s\n", handle, s.addr)
	return nil
}

// register claims handle unless the key already has it.
func register(ctx context.Context, c *client.Conn, handle, invite string) error {
	login := c.LoginResult()
	if login.GetRegistered() {
		if login.GetHandle() == handle {
			return nil
		}
		return fmt.Errorf("this identity is already registered as @%s on %s; "+
			"one identity has one handle per relay, so run vm init --home DIR for a new identity",
			login.GetHandle(), c.Addr())
	}
	_, err := c.Register(ctx, handle, invite)
	return err
}

// trimSigil removes a leading sigil that a user may type out of habit.
func trimSigil(s string, sigil byte) string {
	if len(s) > 0 && s[0] == sigil {
		return s[1:]
	}
	return s
}
