package relay

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// testServer is a relay running on a loopback port for one test.
type testServer struct {
	*Server
	stop func()
}

// startServer starts a relay on 127.0.0.1 with its data in cfg.DataDir,
// or in a fresh temporary directory, and stops it when the test ends.
// Each setup function runs on the server before it starts serving.
func startServer(t testing.TB, cfg Config, setup ...func(*Server)) *testServer {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, f := range setup {
		f(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	ts := &testServer{Server: srv}
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(ts.stop)
	return ts
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// testClient is a QUIC connection to a test relay with an identity key.
type testClient struct {
	t    testing.TB
	conn *quic.Conn
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// dial connects to srv with a new identity key, pinning its certificate.
func dial(t testing.TB, srv *testServer) *testClient {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return dialWithKey(t, srv, priv, pub)
}

func dialWithKey(t testing.TB, srv *testServer, priv ed25519.PrivateKey, pub ed25519.PublicKey) *testClient {
	t.Helper()
	want := srv.CertFingerprint()
	tlsConf := &tls.Config{
		InsecureSkipVerify: true,
		NextProtos:         []string{proto.ALPN},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			cert, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			if got := Fingerprint(cert); got != want {
				return errors.New("fingerprint " + got + " does not match " + want)
			}
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, srv.Addr().String(), tlsConf, &quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatalf("dial relay: %v", err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return &testClient{t: t, conn: conn, priv: priv, pub: pub}
}

// loginRequest signs the login data of conn with the client's key.
func (c *testClient) loginRequest(conn *quic.Conn) *pb.Request {
	state := conn.ConnectionState().TLS
	exp, err := state.ExportKeyingMaterial(proto.ExporterLabel, nil, proto.ExporterLength)
	if err != nil {
		c.t.Fatalf("export keying material: %v", err)
	}
	sig := ed25519.Sign(c.priv, append([]byte(proto.LoginContext), exp...))
	return &pb.Request{Body: &pb.Request_Login{Login: &pb.Login{PublicKey: c.pub, Signature: sig, ClientVersion: "test"}}}
}

// login logs in and fails the test unless the relay accepts.
func (c *testClient) login() *pb.LoginResult {
	c.t.Helper()
	res := c.do(c.loginRequest(c.conn))
	if res.Error != nil {
		c.t.Fatalf("login: %v", res.Error)
	}
	return res.GetLogin()
}

// register logs in and registers handle.
func (c *testClient) register(handle string) *testClient {
	c.t.Helper()
	c.login()
	res := c.do(&pb.Request{Body: &pb.Request_Register{Register: &pb.Register{Handle: handle}}})
	if res.Error != nil {
		c.t.Fatalf("register %s: %v", handle, res.Error)
	}
	return c
}

// newUser dials srv and registers handle with a new key.
func newUser(t testing.TB, srv *testServer, handle string) *testClient {
	t.Helper()
	return dial(t, srv).register(handle)
}

// do sends one request on a new stream and reads the response.
func (c *testClient) do(req *pb.Request) *pb.Response {
	c.t.Helper()
	res, _, err := c.roundTrip(req, nil)
	if err != nil {
		c.t.Fatalf("request %T: %v", req.Body, err)
	}
	return res
}

// roundTrip writes req and then extra on a new stream, closes the write
// side, and reads the response and whatever follows it.
func (c *testClient) roundTrip(req *pb.Request, extra []byte) (*pb.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	str, err := c.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, nil, err
	}
	str.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := proto.AppendMessage(nil, req)
	if err != nil {
		return nil, nil, err
	}
	// Write errors are ignored: a relay that rejects an upload stops
	// reading, and the response contains the reason.
	str.Write(append(b, extra...))
	str.Close()
	r := bufio.NewReader(str)
	var res pb.Response
	if err := proto.ReadMessage(r, &res); err != nil {
		return nil, nil, err
	}
	rest, _ := io.ReadAll(r)
	return &res, rest, nil
}

func errCode(res *pb.Response) pb.ErrorCode {
	if res.Error == nil {
		return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
	}
	return res.Error.Code
}

// testPacket is a 60-byte Opus packet: TOC config 15 (hybrid fullband,
// 20 ms), one frame, then filler. The relay reads only the TOC.
func testPacket(seq int) []byte {
	p := make([]byte, 60)
	p[0] = 15 << 3
	for i := 1; i < len(p); i++ {
		p[i] = byte(seq + i)
	}
	return p
}

// testRecords returns the upload records of a message of n frames whose
// length is n*960 - preSkip samples.
func testRecords(n int, preSkip int) []byte {
	var b []byte
	for i := range n {
		f := proto.Frame{Seq: uint32(i), Timestamp: uint32(i * proto.FrameSamples), Payload: testPacket(i)}
		if i == 0 {
			f.Flags |= proto.FlagFirst
		}
		if i == n-1 {
			f.Flags |= proto.FlagLast
		}
		b = proto.AppendFrameRecord(b, &f)
	}
	return proto.AppendEndRecord(b, uint64(n*proto.FrameSamples-preSkip))
}

const testPreSkip = 312

func newUpload(to string) *pb.Upload {
	return &pb.Upload{
		MessageId:       ulid.Make().String(),
		To:              to,
		SampleRate:      proto.SampleRate,
		Channels:        1,
		PreSkip:         testPreSkip,
		InputSampleRate: 16000,
	}
}

// upload sends a message of n frames and returns the relay's response.
func (c *testClient) upload(up *pb.Upload, records []byte) *pb.Response {
	c.t.Helper()
	res, _, err := c.roundTrip(&pb.Request{Body: &pb.Request_Upload{Upload: up}}, records)
	if err != nil {
		c.t.Fatalf("upload: %v", err)
	}
	return res
}

// send uploads a valid message of n frames and fails unless it is stored.
func (c *testClient) send(to string, n int) *pb.UploadResult {
	c.t.Helper()
	res := c.upload(newUpload(to), testRecords(n, testPreSkip))
	if res.Error != nil {
		c.t.Fatalf("upload to %s: %v", to, res.Error)
	}
	return res.GetUpload()
}

func (c *testClient) list(req *pb.ListMessages) *pb.Response {
	c.t.Helper()
	return c.do(&pb.Request{Body: &pb.Request_ListMessages{ListMessages: req}})
}

// fetch returns the response to FetchMessage and the blob bytes after it.
func (c *testClient) fetch(conv, id string) (*pb.Response, []byte) {
	c.t.Helper()
	res, body, err := c.roundTrip(&pb.Request{Body: &pb.Request_FetchMessage{FetchMessage: &pb.FetchMessage{MessageId: id, Conversation: conv}}}, nil)
	if err != nil {
		c.t.Fatalf("fetch: %v", err)
	}
	return res, body
}
