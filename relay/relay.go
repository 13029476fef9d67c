// Package relay is the vm relay server. It accepts QUIC connections from
// vm clients and authenticates each with an identity-key login bound to
// the TLS session. It then serves one request per bidirectional stream, as
// package proto describes: handle registration, channels, message
// uploads, listings, blob fetches and delivery acknowledgements, and the
// live path: event feeds, presence, live uploads forwarded as datagrams,
// following a message frame by frame, and listen receipts.
//
// The server follows the shape of a DERP-style relay: an accept loop, a
// login under a deadline, a per-connection session with one handler
// method per request type, and goroutines owned by errgroups that are
// cancelled, then waited for.
//
// # Data directory
//
//	tls/cert.pem, tls/key.pem  self-signed certificate made on first start
//	quic-reset.key             QUIC stateless reset key made on first start
//	nats/                      embedded NATS JetStream store (see package meta)
//	blobs/<store id>/<id[:6]>/<id>.<sender>.<conversation>.ogg
//	                           one Ogg Opus file per message (see package blob)
//	                           with the disk store; the store id is the
//	                           metadata's (see package meta)
//	spool/                     with the S3 store, one file per upload in
//	                           progress, emptied at start
//	invites/<sha256 of token>  one empty file per unused invite token
//	relay.lock                 pid of the running relay, which holds an
//	                           exclusive flock on it so no second relay
//	                           can use the directory
//
// An upload is acknowledged only after its blob is fsynced and renamed and
// its metadata is fsynced by JetStream.
//
// # Live path
//
// The hub keeps the subscribed connections of online users and the live
// uploads in progress in memory. A live upload resolves its listeners,
// the subscribed connections of the conversation's members except the
// sender's own, when it starts, and the hub updates that list as members
// subscribe, leave or join. The first copy of each frame, from a datagram
// or from an upload record, goes into a pooled buffer that every listener
// shares. The forwarding path only enqueues it without blocking on each
// listener's bounded queue and drops the frame for that listener when the
// queue is full. One writer goroutine per subscribed connection copies
// the frame, writes its own stream handle and calls SendDatagram, which
// blocks only that writer while the connection's datagram queue is full.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/relay/blob"
	"github.com/vm-voice/vm/relay/meta"
	"golang.org/x/sync/errgroup"
)

// Version is the relay's version, reported in LoginResult.
var Version = "dev"

// Registration modes.
const (
	RegistrationOpen   = "open"
	RegistrationInvite = "invite"
	RegistrationClosed = "closed"
)

// Defaults of Config fields left zero.
const (
	DefaultMaxMessageDuration = 5 * time.Minute
	DefaultMaxMessageBytes    = 4 << 20
	// DefaultMaxConnections is an estimate of what one relay process
	// serves comfortably, not a measured capacity.
	DefaultMaxConnections = 1000
)

// Limits on what one client controls.
const (
	// loginTimeout bounds the time from accepting a connection to a
	// completed login.
	loginTimeout = 10 * time.Second
	// loginGrace is how long a connection whose login failed stays open
	// for the client to read the error.
	loginGrace = time.Second
	// requestTimeout bounds reading a request and handling anything but
	// an upload or a fetch.
	requestTimeout = 30 * time.Second
	// idleTimeout closes a connection from which no packet arrived for
	// this long, which also ends the user's presence. QUIC uses the
	// smaller of the two peers' values, and clients send a keepalive
	// every 2 s (client.DefaultKeepAlivePeriod), so a live client is
	// never idle this long and a dead one shows offline within about 8 s.
	idleTimeout = 8 * time.Second
	// maxStreams is how many requests one connection may have open at once.
	maxStreams = 100
	// requestRate and requestBurst limit requests per connection.
	requestRate  = 50
	requestBurst = 100
	// drainTimeout is how long Run lets open requests finish on shutdown.
	drainTimeout = 10 * time.Second
)

// Config configures a Server. Zero fields take their defaults.
type Config struct {
	// Listen is the UDP address to serve QUIC on, e.g. "0.0.0.0:4433".
	Listen string
	// DataDir holds the TLS certificate, metadata, blobs and invites.
	DataDir string
	// Registration is "open" (the default), "invite" or "closed".
	Registration string
	// TLSCertFile and TLSKeyFile name a PEM certificate and key to use in
	// place of the self-signed one. Both or neither are set.
	TLSCertFile, TLSKeyFile string
	// HTTPListen is the TCP address of the metrics and health listener;
	// empty means none.
	HTTPListen string
	// MaxMessageDuration is the longest message accepted.
	MaxMessageDuration time.Duration
	// MaxMessageBytes is the largest message accepted, counting the Opus
	// packets of its frames.
	MaxMessageBytes int64
	// Store selects where message audio lives: StoreDisk (the default,
	// under DataDir/blobs) or StoreS3 (the bucket S3 describes).
	Store string
	// S3 configures the S3 store; it is used only when Store is StoreS3.
	// An empty S3.SpoolDir means DataDir/spool, which the relay empties
	// at start.
	S3 blob.S3Config
	// OrphanGrace is how old a blob without metadata must be before the
	// recovery sweep deletes it; zero means DefaultOrphanGrace.
	OrphanGrace time.Duration
	// RetentionMaxAge is the age at which a message is deleted; zero
	// keeps messages forever.
	RetentionMaxAge time.Duration
	// RetentionUserQuota is the most bytes of message audio kept per
	// sender; over it, the sender's oldest messages are deleted. Zero
	// means no limit.
	RetentionUserQuota int64
	// MaxConnections is the maximum number of client connections open at
	// once; the relay closes each connection over it at once.
	MaxConnections int
}

// Blob stores a relay can keep message audio in.
const (
	StoreDisk = "disk"
	StoreS3   = "s3"
)

func (c *Config) setDefaults() {
	if c.Registration == "" {
		c.Registration = RegistrationOpen
	}
	if c.MaxMessageDuration == 0 {
		c.MaxMessageDuration = DefaultMaxMessageDuration
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.OrphanGrace == 0 {
		c.OrphanGrace = DefaultOrphanGrace
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
}

func (c *Config) validate() error {
	switch {
	case c.Listen == "":
		return errors.New("missing listen address: set --listen, e.g. 0.0.0.0:4433")
	case c.DataDir == "":
		return errors.New("missing data directory: set --data")
	case c.Registration != RegistrationOpen && c.Registration != RegistrationInvite && c.Registration != RegistrationClosed:
		return fmt.Errorf("invalid registration mode %q: use open, invite or closed", c.Registration)
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("incomplete TLS settings: set both --tls-cert and --tls-key, or neither")
	case c.MaxMessageDuration < proto.FrameDuration || c.MaxMessageDuration > time.Hour:
		return fmt.Errorf("invalid max message duration %s: use 20ms to 1h", c.MaxMessageDuration)
	case c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 1<<30:
		return fmt.Errorf("invalid max message bytes %d: use 1024 to %d", c.MaxMessageBytes, 1<<30)
	case c.OrphanGrace < 0:
		return fmt.Errorf("invalid orphan grace %s: use a positive duration", c.OrphanGrace)
	case c.RetentionMaxAge < 0:
		return fmt.Errorf("invalid retention max age %s: use 0 (keep forever) or a positive duration", c.RetentionMaxAge)
	case c.MaxConnections < 1 || c.MaxConnections > 1_000_000:
		return fmt.Errorf("invalid max connections %d: use 1 to 1000000", c.MaxConnections)
	case c.RetentionUserQuota < 0:
		return fmt.Errorf("invalid retention user quota %d: use 0 (no limit) or a number of bytes", c.RetentionUserQuota)
	}
	return nil
}

// Server is a relay. New prepares it, Run serves.
type Server struct {
	cfg         Config
	log         *slog.Logger
	tls         *tls.Config
	fingerprint string
	// resetKey derives the QUIC stateless reset tokens, so a restarted
	// relay resets the connections of its previous run.
	resetKey *quic.StatelessResetKey
	// lock is the data directory's lock file, held while the server runs.
	lock      *os.File
	transport *quic.Transport
	listener  *quic.Listener
	httpLn    net.Listener
	nats      *meta.Embedded
	meta      meta.Store
	blobs     blob.Store
	invites   *inviteStore
	metrics   *metrics
	hub       *hub

	// storeID is the metadata store's id, the first part of every blob
	// key this relay makes.
	storeID string

	// now returns the current time; tests replace it.
	now func() time.Time
	// sessions counts running sessions, so Run can wait for them.
	sessions sync.WaitGroup
	// openConns counts the connections accepted and not yet ended, against
	// cfg.MaxConnections.
	openConns atomic.Int64
	// overLimit logs the connections closed for the limit.
	overLimit repeatLog
	// health remembers the last health check's outcome, so a fault is
	// logged when it starts and when it clears, not on every check.
	health healthState
	// subscribeHookForTest, when set, receives each subscriber before it is
	// registered, so a test can replace its datagram sender.
	subscribeHookForTest func(*subscriber)
	// sentHookForTest, when set, gets the time from a frame's intake to
	// the return of each SendDatagram that forwards it.
	sentHookForTest func(time.Duration)
}

// New validates cfg, creates and locks the data directory, loads or
// creates the TLS certificate, starts the embedded NATS server and binds
// the UDP socket and the HTTP listener. Addr is valid once New returns.
// Run must follow, or the resources New took stay taken. A data directory
// that another relay holds fails with an error that matches
// ErrDataDirInUse.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, lock: lock, now: time.Now, metrics: newMetrics()}
	s.hub = newHub(log, s.metrics)
	if err := s.open(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// open takes the server's resources one by one; close releases those taken.
func (s *Server) open() error {
	var err error
	if s.tls, s.fingerprint, err = loadTLS(s.cfg); err != nil {
		return err
	}
	if s.resetKey, err = loadResetKey(s.cfg.DataDir); err != nil {
		return err
	}
	if s.nats, err = meta.StartEmbedded(filepath.Join(s.cfg.DataDir, "nats")); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.meta, err = meta.OpenJetStream(ctx, s.nats.Conn()); err != nil {
		return err
	}
	if s.storeID, err = s.meta.StoreID(ctx); err != nil {
		return fmt.Errorf("read store id: %w", err)
	}
	if s.blobs, err = s.openBlobs(ctx); err != nil {
		return err
	}
	if s.invites, err = openInvites(s.cfg.DataDir); err != nil {
		return err
	}
	if err := s.listen(); err != nil {
		return err
	}
	return s.listenHTTP()
}

// openBlobs opens the blob store the configuration selects.
func (s *Server) openBlobs(ctx context.Context) (blob.Store, error) {
	switch s.cfg.Store {
	case "", StoreDisk:
		return blob.NewDisk(filepath.Join(s.cfg.DataDir, "blobs"))
	case StoreS3:
		cfg := s.cfg.S3
		if cfg.SpoolDir == "" {
			cfg.SpoolDir = filepath.Join(s.cfg.DataDir, "spool")
			if err := cleanSpoolDir(cfg.SpoolDir); err != nil {
				return nil, err
			}
		}
		return blob.NewS3(ctx, cfg, s.log.With("store", "s3"))
	}
	return nil, fmt.Errorf("invalid store %q: use %s or %s", s.cfg.Store, StoreDisk, StoreS3)
}

// cleanSpoolDir creates the S3 spool directory under the data directory
// and removes the spool files that uploads left when a relay was killed.
// The data directory's lock makes this relay the only user of the files.
func cleanSpoolDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean S3 spool dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create S3 spool dir: %w", err)
	}
	return nil
}

func (s *Server) listen() error {
	addr, err := net.ResolveUDPAddr("udp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("resolve listen address %q: %w", s.cfg.Listen, err)
	}
	udp, err := net.ListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.transport = &quic.Transport{Conn: udp, StatelessResetKey: s.resetKey}
	s.listener, err = s.transport.Listen(s.tls, &quic.Config{
		HandshakeIdleTimeout:  loginTimeout,
		MaxIdleTimeout:        idleTimeout,
		MaxIncomingStreams:    maxStreams,
		MaxIncomingUniStreams: -1,
		EnableDatagrams:       true,
	})
	if err != nil {
		return fmt.Errorf("listen quic on %s: %w", s.cfg.Listen, err)
	}
	return nil
}

func (s *Server) close() {
	if s.listener != nil {
		s.listener.Close()
	}
	if s.transport != nil {
		s.transport.Close()
		// A Transport leaves open the socket it was given, and a relay
		// started next in the same process needs the port.
		s.transport.Conn.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	if s.nats != nil {
		s.nats.Close()
	}
	// The lock goes last, so a relay that starts next finds the stores
	// closed.
	if s.lock != nil {
		s.lock.Close()
	}
}

// Addr returns the UDP address the server listens on.
func (s *Server) Addr() net.Addr {
	return s.listener.Addr()
}

// CertFingerprint returns "sha256:" and the hex SHA-256 of the TLS
// certificate's SubjectPublicKeyInfo; clients pin this value.
func (s *Server) CertFingerprint() string {
	return s.fingerprint
}

// Run serves until ctx is done. It then stops accepting connections, lets
// open requests finish for up to drainTimeout, closes every connection and
// the stores, and returns. It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	defer s.close()
	hard, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	s.log.Info("relay listening", append([]any{"addr", s.Addr().String(), "http_addr", s.httpAddrText(),
		"registration", s.cfg.Registration}, s.storeAttrs()...)...)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.acceptLoop(gctx, hard) })
	g.Go(func() error { return s.maintain(gctx) })
	if s.httpLn != nil {
		srv := &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error { return serveHTTP(gctx, srv, s.httpLn) })
	}
	err := g.Wait()
	s.log.Info("relay draining")
	s.drain(stop)
	s.log.Info("relay stopped")
	return err
}

// httpAddrText returns the bound address of the HTTP listener, or "off".
func (s *Server) httpAddrText() string {
	if a := s.HTTPAddr(); a != nil {
		return a.String()
	}
	return "off"
}

// storeAttrs returns the log attributes that name the blob store in use
// and the store id its keys start with.
func (s *Server) storeAttrs() []any {
	if s.cfg.Store == StoreS3 {
		return []any{"store", StoreS3, "endpoint", s.cfg.S3.Endpoint, "bucket", s.cfg.S3.Bucket,
			"prefix", s.cfg.S3.Prefix, "store_id", s.storeID}
	}
	return []any{"store", StoreDisk, "dir", filepath.Join(s.cfg.DataDir, "blobs"), "store_id", s.storeID}
}

// drain waits for sessions to finish their open requests, and cancels
// them once drainTimeout has passed.
func (s *Server) drain(stop context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		s.sessions.Wait()
		close(done)
	}()
	timer := time.NewTimer(drainTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("relay drain timed out, closing open requests", "dur", drainTimeout)
		stop()
		<-done
	}
}

// acceptLoop accepts connections until ctx is done, and runs a session for
// each. Sessions stop taking requests when ctx is done and stop work in
// progress when hard is.
func (s *Server) acceptLoop(ctx, hard context.Context) error {
	for {
		conn, err := s.listener.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept connection: %w", err)
		}
		if !s.admit(conn) {
			continue
		}
		ss := newSession(s, conn)
		s.sessions.Add(1)
		go func() {
			defer s.sessions.Done()
			defer s.openConns.Add(-1)
			ss.run(ctx, hard)
		}()
	}
}

// admit counts a new connection against cfg.MaxConnections. Over the
// limit it closes the connection with an error the client shows, and
// reports false.
func (s *Server) admit(conn *quic.Conn) bool {
	if s.openConns.Add(1) <= int64(s.cfg.MaxConnections) {
		return true
	}
	s.openConns.Add(-1)
	s.metrics.connectionsRejected.Inc()
	if n, ok := s.overLimit.note(s.now()); ok {
		s.log.Warn("connections rejected over the limit", "count", n, "max_connections", s.cfg.MaxConnections,
			"remote_addr", conn.RemoteAddr().String())
	}
	conn.CloseWithError(codeTooManyConnections,
		fmt.Sprintf("relay at its limit of %d connections; try again later", s.cfg.MaxConnections))
	return false
}
