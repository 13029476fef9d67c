package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// requestTimeout bounds one control request of the bench's clients.
const requestTimeout = 30 * time.Second

// relayConn is one logged-in QUIC connection to the relay.
type relayConn struct {
	qc *quic.Conn
}

// dialRelay connects to the relay at addr, checks that its certificate
// key has the fingerprint the relay printed, and logs in with key.
func dialRelay(ctx context.Context, addr, fingerprint string, key ed25519.PrivateKey) (*relayConn, *pb.LoginResult, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, nil, err
	}
	tlsConf := &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{proto.ALPN},
		// The relay's certificate is self-signed; its key is pinned below.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("relay sent no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
			if got := "sha256:" + hex.EncodeToString(sum[:]); got != fingerprint {
				return fmt.Errorf("relay key fingerprint %s, expected %s", got, fingerprint)
			}
			return nil
		},
	}
	quicConf := &quic.Config{
		HandshakeIdleTimeout: 10 * time.Second,
		MaxIdleTimeout:       60 * time.Second,
		KeepAlivePeriod:      10 * time.Second,
		EnableDatagrams:      true,
	}
	dctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	qc, err := quic.DialAddr(dctx, addr, tlsConf, quicConf)
	if err != nil {
		return nil, nil, fmt.Errorf("dial relay %s: %w", addr, err)
	}
	c := &relayConn{qc: qc}
	res, err := c.login(ctx, key)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	return c, res, nil
}

// login signs LoginContext and the connection's TLS exporter value with
// key, as package proto describes.
func (c *relayConn) login(ctx context.Context, key ed25519.PrivateKey) (*pb.LoginResult, error) {
	tlsState := c.qc.ConnectionState().TLS
	exported, err := tlsState.ExportKeyingMaterial(proto.ExporterLabel, nil, proto.ExporterLength)
	if err != nil {
		return nil, fmt.Errorf("export tls keying material: %w", err)
	}
	msg := append([]byte(proto.LoginContext), exported...)
	req := &pb.Request{Body: &pb.Request_Login{Login: &pb.Login{
		PublicKey:     key.Public().(ed25519.PublicKey),
		Signature:     ed25519.Sign(key, msg),
		ClientVersion: "vmbench",
	}}}
	res, err := c.request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	return res.GetLogin(), nil
}

// request sends req on a new stream and reads the single response.
func (c *relayConn) request(ctx context.Context, req *pb.Request) (*pb.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	defer str.CancelRead(0)
	str.SetDeadline(time.Now().Add(requestTimeout))
	if err := proto.WriteMessage(str, req); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	str.Close()
	return readResponse(bufio.NewReader(str))
}

// readResponse reads one Response and turns a relay error into an error.
func readResponse(r *bufio.Reader) (*pb.Response, error) {
	var res pb.Response
	if err := proto.ReadMessage(r, &res); err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if e := res.GetError(); e != nil {
		return nil, fmt.Errorf("relay error %s: %s", e.GetCode(), e.GetMessage())
	}
	return &res, nil
}

// subscribe opens the connection's event feed and calls onEvent for each
// event until the feed or the connection ends.
func (c *relayConn) subscribe(ctx context.Context, onEvent func(*pb.Event)) error {
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open feed stream: %w", err)
	}
	str.SetWriteDeadline(time.Now().Add(requestTimeout))
	if err := proto.WriteMessage(str, &pb.Request{Body: &pb.Request_Subscribe{Subscribe: &pb.Subscribe{}}}); err != nil {
		return fmt.Errorf("write subscribe: %w", err)
	}
	str.SetReadDeadline(time.Now().Add(requestTimeout))
	r := bufio.NewReader(str)
	if _, err := readResponse(r); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	str.SetReadDeadline(time.Time{})
	go func() {
		for {
			var ev pb.Event
			if err := proto.ReadMessage(r, &ev); err != nil {
				return
			}
			onEvent(&ev)
		}
	}()
	return nil
}

func (c *relayConn) close() {
	c.qc.CloseWithError(0, "bench done")
}

// liveUpload is the talker's upload of one live message: each frame goes
// to the relay as a record on the upload stream and as a datagram, as
// the vm client sends it.
type liveUpload struct {
	c      *relayConn
	str    *quic.Stream
	handle uint16
	rec    []byte
	dgram  []byte
	frames uint32
}

// startLive opens a live upload of message id to recipient to.
func (c *relayConn) startLive(ctx context.Context, to, id string, handle uint16) (*liveUpload, error) {
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("open upload stream: %w", err)
	}
	req := &pb.Request{Body: &pb.Request_Upload{Upload: &pb.Upload{
		MessageId: id, To: to, SampleRate: proto.SampleRate, Channels: 1,
		InputSampleRate: proto.SampleRate, CreatedUnixMs: time.Now().UnixMilli(),
		Live: true, LiveHandle: uint32(handle),
	}}}
	if err := proto.WriteMessage(str, req); err != nil {
		str.CancelWrite(0)
		return nil, fmt.Errorf("write upload request: %w", err)
	}
	return &liveUpload{c: c, str: str, handle: handle}, nil
}

// send implements talker: the datagram copy first, then the record.
func (u *liveUpload) send(seq uint32, p []byte, last bool) error {
	f := proto.Frame{Handle: u.handle, Seq: seq, Timestamp: seq * proto.FrameSamples, Payload: p}
	if seq == 0 {
		f.Flags |= proto.FlagFirst
	}
	if last {
		f.Flags |= proto.FlagLast
	}
	u.dgram = proto.AppendFrame(u.dgram[:0], &f)
	if err := u.c.qc.SendDatagram(u.dgram); err != nil {
		return fmt.Errorf("send datagram: %w", err)
	}
	f.Handle = 0
	u.rec = proto.AppendFrameRecord(u.rec[:0], &f)
	if _, err := u.str.Write(u.rec); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	u.frames = seq + 1
	return nil
}

// finish writes the end record and waits for the relay to store the
// message.
func (u *liveUpload) finish(ctx context.Context) (*pb.UploadResult, error) {
	if _, err := u.str.Write(proto.AppendEndRecord(nil, uint64(u.frames)*proto.FrameSamples)); err != nil {
		return nil, fmt.Errorf("write end record: %w", err)
	}
	u.str.Close()
	u.str.SetReadDeadline(time.Now().Add(requestTimeout))
	res, err := readResponse(bufio.NewReader(u.str))
	if err != nil {
		return nil, fmt.Errorf("finish live upload: %w", err)
	}
	return res.GetUpload(), nil
}
