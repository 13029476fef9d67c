package client

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// testServer is a minimal relay stand-in that runs handle for every
// request stream, so tests can make the relay misbehave.
type testServer struct {
	ln          *quic.Listener
	fingerprint string
	handle      func(qc *quic.Conn, str *quic.Stream, r *bufio.Reader, req *pb.Request)
	wg          sync.WaitGroup
}

func newTestServer(t *testing.T, handle func(qc *quic.Conn, str *quic.Stream, r *bufio.Reader, req *pb.Request)) *testServer {
	t.Helper()
	cert, fp := selfSignedCert(t)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{proto.ALPN}, MinVersion: tls.VersionTLS13}
	ln, err := quic.ListenAddr("127.0.0.1:0", tlsConf, &quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{ln: ln, fingerprint: fp, handle: handle}
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Go(func() { s.serve(ctx) })
	t.Cleanup(func() {
		cancel()
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) serve(ctx context.Context) {
	for {
		qc, err := s.ln.Accept(ctx)
		if err != nil {
			return
		}
		s.wg.Go(func() {
			defer qc.CloseWithError(0, "")
			for {
				str, err := qc.AcceptStream(ctx)
				if err != nil {
					return
				}
				s.wg.Go(func() {
					defer str.Close()
					r := bufio.NewReader(str)
					var req pb.Request
					if err := proto.ReadMessage(r, &req); err != nil {
						return
					}
					s.handle(qc, str, r, &req)
				})
			}
		})
	}
}

func selfSignedCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"relay.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, SPKIFingerprint(cert.RawSubjectPublicKeyInfo)
}

// dialTest dials s with a fresh identity and pin file.
func dialTest(t *testing.T, s *testServer, opts Options) *Conn {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	pins := &KnownRelays{Path: filepath.Join(t.TempDir(), KnownRelaysFile)}
	c, err := Dial(t.Context(), s.addr(), id, pins, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func respond(str *quic.Stream, resp *pb.Response) {
	proto.WriteMessage(str, resp)
}
