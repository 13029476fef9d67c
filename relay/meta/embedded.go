package meta

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is an in-process NATS server with JetStream, reachable only
// through Conn: it opens no network port.
type Embedded struct {
	srv  *server.Server
	conn *nats.Conn
}

// StartEmbedded starts a NATS server that keeps its JetStream files under
// dir, and connects to it in process. Every JetStream write is fsynced
// before it is acknowledged.
func StartEmbedded(dir string) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "vm-relay",
		JetStream:  true,
		StoreDir:   dir,
		DontListen: true,
		NoSigs:     true,
		NoLog:      true,
		SyncAlways: true,
		MaxPayload: 1 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("start nats server: not ready after 30s")
	}
	conn, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("vm-relay"))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return &Embedded{srv: srv, conn: conn}, nil
}

// Conn returns the in-process client connection.
func (e *Embedded) Conn() *nats.Conn {
	return e.conn
}

// Close closes the connection, stops the server and waits until it has
// flushed and closed its files.
func (e *Embedded) Close() {
	e.conn.Close()
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
