package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
)

// session is a lazily dialed, logged-in connection to one relay that
// redials after a transient failure.
type session struct {
	a    *app
	addr string
	home string
	id   *client.Identity
	log  *slog.Logger
	conn *client.Conn

	dialFailed bool // whether the last attempt failed before logging in
}

// newSession loads the identity and prepares a session with the relay of
// the configuration. It does not dial yet.
func (a *app) newSession() (*session, config.Paths, config.Client, error) {
	p, err := a.paths()
	if err != nil {
		return nil, p, config.Client{}, err
	}
	cfg, err := a.settings(p)
	if err != nil {
		return nil, p, cfg, err
	}
	// Without an identity the relay address is no use, and vm init comes
	// before vm register, so the identity is checked first.
	id, err := client.LoadIdentity(p.Home)
	if err != nil {
		return nil, p, cfg, err
	}
	if cfg.Relay == "" {
		return nil, p, cfg, usagef("missing relay address: pass --relay HOST:PORT, set VM_RELAY, or run vm register")
	}
	s := &session{a: a, addr: cfg.Relay, home: p.Home, id: id, log: a.logger()}
	return s, p, cfg, nil
}

// do runs op on a logged-in connection, retrying transient failures with
// the app's backoff. It redials after a failure that may have broken the
// connection.
func (s *session) do(ctx context.Context, op func(ctx context.Context, c *client.Conn) error) error {
	err := client.Retry(ctx, s.a.backoff, s.log, func(ctx context.Context) error {
		c, err := s.connect(ctx)
		s.dialFailed = err != nil
		if err != nil {
			return err
		}
		err = op(ctx, c)
		if client.IsTransient(err) {
			s.close()
		}
		return err
	})
	return s.explain(err)
}

// connect dials and logs in unless a connection is open.
func (s *session) connect(ctx context.Context) (*client.Conn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	pins := &client.KnownRelays{Path: filepath.Join(s.home, client.KnownRelaysFile)}
	opts := client.Options{
		Logger:           s.log,
		HandshakeTimeout: s.a.handshakeTimeout,
		RequestTimeout:   s.a.requestTimeout,
		ClientVersion:    "vm " + version,
	}
	c, err := client.Dial(ctx, s.addr, s.id, pins, opts)
	if err != nil {
		return nil, err
	}
	if c.FirstUse() {
		fmt.Fprintf(s.a.stderr, "vm: first connection to relay %s: pinned its key %s in %s\n",
			s.addr, c.Fingerprint(), pins.Path)
	}
	if _, err := c.Login(ctx); err != nil {
		c.Close()
		return nil, err
	}
	s.conn = c
	return c, nil
}

// close closes the connection, if any.
func (s *session) close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// handleOf returns the handle of the key logged in on c, or an error
// telling the user to register.
func handleOf(c *client.Conn) (string, error) {
	login := c.LoginResult()
	if login == nil || !login.GetRegistered() {
		return "", fmt.Errorf("this identity has no handle on relay %s: run vm register HANDLE --relay %s",
			c.Addr(), c.Addr())
	}
	return login.GetHandle(), nil
}

// explain rewrites errors that need a hint for the user.
func (s *session) explain(err error) error {
	var exhausted *client.RetryError
	if !errors.As(err, &exhausted) {
		return err
	}
	if s.dialFailed {
		return fmt.Errorf("relay %s unreachable after %d attempts: %w: is the relay running and the address right?",
			s.addr, exhausted.Attempts, exhausted.Err)
	}
	if strings.HasSuffix(exhausted.Err.Error(), "try again later") {
		return fmt.Errorf("relay %s failed %d attempts: %w", s.addr, exhausted.Attempts, exhausted.Err)
	}
	return fmt.Errorf("relay %s failed %d attempts: %w: try again later", s.addr, exhausted.Attempts, exhausted.Err)
}
