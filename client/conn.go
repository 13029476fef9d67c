package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"golang.org/x/time/rate"
)

// Defaults for zero fields of Options.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultRequestTimeout   = 60 * time.Second
	DefaultMaxBlobSize      = 64 << 20
)

// Options configures a Conn. Zero fields take the defaults.
type Options struct {
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// HandshakeTimeout bounds the QUIC and TLS handshake.
	HandshakeTimeout time.Duration
	// RequestTimeout bounds each request from opening its stream to the
	// end of the relay's response, including an upload or a blob download.
	RequestTimeout time.Duration
	// MaxBlobSize is the largest message blob that Fetch accepts, in bytes.
	MaxBlobSize int64
	// ClientVersion is sent in Login.
	ClientVersion string
	// KeepAlivePeriod is how long the connection may go without a
	// received packet before the client sends a PING; zero means
	// DefaultKeepAlivePeriod.
	KeepAlivePeriod time.Duration
	// IdleTimeout closes the connection after this long without a
	// received packet; zero means DefaultIdleTimeout.
	IdleTimeout time.Duration

	// staleChangedForTest, when set, is called when Silence starts or
	// stops reporting a stale connection.
	staleChangedForTest func(stale bool)
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxBlobSize <= 0 {
		o.MaxBlobSize = DefaultMaxBlobSize
	}
	if o.KeepAlivePeriod <= 0 {
		o.KeepAlivePeriod = DefaultKeepAlivePeriod
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	return o
}

// Conn is a connection to one relay. Its methods may be called
// concurrently, because each request runs on its own QUIC stream.
type Conn struct {
	qc          *quic.Conn
	id          *Identity
	addr        string
	fingerprint string
	firstUse    bool
	opts        Options
	log         *slog.Logger
	arrivals    arrivalWatch

	login *pb.LoginResult // set by Login before other requests
	// pace spaces out request streams, so that bulk work such as
	// fetching hundreds of messages waits its turn instead of being
	// rejected by the relay's per-connection request rate limit.
	pace *rate.Limiter
}

// Request pacing: below the relay's limit of 50 requests a second with a
// burst of 100 per connection.
const (
	requestRate  = 40
	requestBurst = 80
)

// Dial connects to the relay at addr and checks its certificate key
// against pins. A relay seen for the first time is pinned and
// Conn.FirstUse reports true. A changed key fails with a
// *KeyChangedError. Dial does not log in; call Login next.
func Dial(ctx context.Context, addr string, id *Identity, pins *KnownRelays, opts Options) (*Conn, error) {
	if pins == nil || id == nil {
		return nil, errors.New("dial relay: identity and known relays are required")
	}
	opts = opts.withDefaults()
	v := &pinVerifier{addr: addr, pins: pins}
	tlsConf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{proto.ALPN},
		// The relay's certificate is usually self-signed, so the chain is
		// not verified. VerifyConnection pins its key instead.
		InsecureSkipVerify: true,
		VerifyConnection:   v.verify,
	}
	quicConf := &quic.Config{
		HandshakeIdleTimeout: opts.HandshakeTimeout,
		MaxIdleTimeout:       opts.IdleTimeout,
		KeepAlivePeriod:      opts.KeepAlivePeriod,
		EnableDatagrams:      true,
	}
	qc, err := quic.DialAddr(ctx, addr, tlsConf, quicConf)
	if v.changed != nil {
		return nil, v.changed
	}
	if err != nil {
		return nil, fmt.Errorf("dial relay %s: %w", addr, err)
	}
	c := &Conn{qc: qc, id: id, addr: addr, fingerprint: v.fingerprint, opts: opts,
		log: opts.Logger.With("remote_addr", addr), pace: rate.NewLimiter(requestRate, requestBurst)}
	if !v.pinned {
		if err := pins.Add(addr, v.fingerprint); err != nil {
			c.Close()
			return nil, err
		}
		c.firstUse = true
	}
	go c.watchArrivals(qc.Context())
	return c, nil
}

// pinVerifier checks the relay's certificate key during the handshake.
type pinVerifier struct {
	addr        string
	pins        *KnownRelays
	fingerprint string           // key the relay presented
	pinned      bool             // whether addr had a pin
	changed     *KeyChangedError // set when the pin differs
}

func (v *pinVerifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("relay sent no certificate")
	}
	v.fingerprint = SPKIFingerprint(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
	pinned, err := v.pins.Verify(v.addr, v.fingerprint)
	errors.As(err, &v.changed)
	v.pinned = pinned
	return err
}

// Addr returns the relay address that the Conn was dialed with.
func (c *Conn) Addr() string { return c.addr }

// Fingerprint returns the fingerprint of the relay's certificate key.
func (c *Conn) Fingerprint() string { return c.fingerprint }

// FirstUse reports whether Dial pinned the relay's key just now.
func (c *Conn) FirstUse() bool { return c.firstUse }

// LoginResult returns the result of Login, or nil before it.
func (c *Conn) LoginResult() *pb.LoginResult { return c.login }

// Close closes the connection and aborts requests in flight.
func (c *Conn) Close() error {
	return c.qc.CloseWithError(0, "client closed")
}

// request sends req on a new stream and returns the relay's response. A
// relay error becomes a *RemoteError.
func (c *Conn) request(ctx context.Context, req *pb.Request) (*pb.Response, error) {
	var resp *pb.Response
	err := c.exchange(ctx, req, nil, func(r *bufio.Reader) error {
		resp = new(pb.Response)
		return readResponse(r, resp)
	})
	return resp, err
}

// exchange runs one request on a new stream: it writes req and then the
// bytes that body appends, if body is not nil, closes the write side, and
// lets read consume the response. It bounds the whole exchange by
// RequestTimeout and aborts the stream when ctx ends.
func (c *Conn) exchange(ctx context.Context, req *pb.Request, body func(w *bufio.Writer) error,
	read func(r *bufio.Reader) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, c.opts.RequestTimeout, ErrTimeout)
	defer cancel()
	if err := c.pace.Wait(ctx); err != nil {
		return c.ctxErr(ctx, fmt.Errorf("wait for the request rate: %w", err))
	}
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return c.ctxErr(ctx, fmt.Errorf("open stream: %w", err))
	}
	stop := context.AfterFunc(ctx, func() {
		str.CancelRead(0)
		str.CancelWrite(0)
	})
	defer stop()
	// The relay may stop reading early, after the whole request or to
	// reject it, so a failed write still reads the response, which then
	// explains the failure.
	werr := writeRequest(str, req, body)
	if werr != nil {
		str.CancelWrite(0)
	}
	rerr := read(bufio.NewReader(str))
	str.CancelRead(0)
	var remote *RemoteError
	switch {
	case rerr == nil || errors.As(rerr, &remote):
		return rerr
	case werr != nil:
		return c.ctxErr(ctx, werr)
	}
	return c.ctxErr(ctx, rerr)
}

// writeRequest writes req and the body, then closes the stream's write
// side.
func writeRequest(str *quic.Stream, req *pb.Request, body func(w *bufio.Writer) error) error {
	w := bufio.NewWriterSize(str, 32<<10)
	if err := proto.WriteMessage(w, req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	if body != nil {
		if err := body(w); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	if err := str.Close(); err != nil {
		return fmt.Errorf("close request stream: %w", err)
	}
	return nil
}

// readResponse reads one Response and turns a relay error into a
// *RemoteError.
func readResponse(r *bufio.Reader, resp *pb.Response) error {
	if err := proto.ReadMessage(r, resp); err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if e := resp.GetError(); e != nil {
		return &RemoteError{Code: e.GetCode(), Message: e.GetMessage()}
	}
	return nil
}

// ctxErr returns the cause of ctx when ctx ended, since a stream error
// after cancellation only reports that the stream was cancelled.
func (c *Conn) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	cause := context.Cause(ctx)
	if errors.Is(cause, ErrTimeout) {
		return fmt.Errorf("%w after %s", ErrTimeout, c.opts.RequestTimeout)
	}
	return cause
}
