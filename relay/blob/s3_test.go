package blob

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/vm-voice/vm/internal/s3test"
)

// newTestS3 returns a store for srv's bucket under the prefix "vm/", with
// static credentials, a private spool directory and retries that wait
// about a millisecond. edit, when not nil, changes the configuration first.
func newTestS3(t *testing.T, srv *s3test.Server, edit func(*S3Config)) *S3 {
	t.Helper()
	cfg := S3Config{
		Endpoint:  srv.Endpoint,
		Region:    "us-east-1",
		Bucket:    srv.Bucket,
		Prefix:    "vm/",
		PathStyle: true,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		SpoolDir:  t.TempDir(),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewS3(context.Background(), cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("NewS3: %v", err)
	}
	s.retry.base = time.Millisecond
	s.retry.max = 4 * time.Millisecond
	return s
}

func TestS3StoreSuite(t *testing.T) {
	srv := s3test.Start(t)
	testStoreSuite(t, func(t *testing.T) Store {
		prefix := "suite-" + randomHex(4) + "/"
		return newTestS3(t, srv, func(c *S3Config) { c.Prefix = prefix })
	})
}

func TestS3ObjectLayout(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, nil)
	want := []byte("OggS layout")
	mustPut(t, s, "01AB/msg.ogg", want)

	got, err := os.ReadFile(filepath.Join(srv.Dir, srv.Bucket, "vm", "01AB", "msg.ogg"))
	if err != nil {
		t.Fatalf("read object file on the server: %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("object file = %q, want %q", got, want)
	}
	info, err := s.client.StatObject(context.Background(), srv.Bucket, "vm/01AB/msg.ogg", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	if info.ContentType != "audio/ogg" {
		t.Errorf("content type = %q, want audio/ogg", info.ContentType)
	}
}

func TestS3LargeObjectMultipart(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, nil)
	want := randomBytes(largeObjectSize)
	mustPut(t, s, "big/long.ogg", want)

	info, err := s.client.StatObject(context.Background(), srv.Bucket, "vm/big/long.ogg", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	// A multipart object's ETag ends in "-" and its number of parts.
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Errorf("ETag = %q, want a multipart ETag ending in -3 (5 MiB parts)", info.ETag)
	}
	st, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket, "vm", "big", "long.ogg"))
	if err != nil {
		t.Fatalf("stat object file on the server: %v", err)
	}
	if st.Size() != largeObjectSize {
		t.Errorf("object file size = %d, want %d", st.Size(), largeObjectSize)
	}
}

func TestS3CheckRemovesProbe(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, nil)
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	entries, err := os.ReadDir(filepath.Join(srv.Dir, srv.Bucket, "vm"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("file left under the prefix after Check: %s", e.Name())
	}
}

func TestS3RegionLookup(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, func(c *S3Config) { c.Region = "" })
	mustPut(t, s, "region.ogg", []byte("region"))
	if got := mustRead(t, s, "region.ogg"); string(got) != "region" {
		t.Errorf("content = %q, want %q", got, "region")
	}
}

func TestS3SpoolFilesRemoved(t *testing.T) {
	srv := s3test.Start(t)
	spool := t.TempDir()
	s := newTestS3(t, srv, func(c *S3Config) { c.SpoolDir = spool })
	ctx := context.Background()

	committed, err := s.Create(ctx, "a/committed.ogg")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	aborted, err := s.Create(ctx, "a/aborted.ogg")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	committed.Write([]byte("kept"))
	aborted.Write([]byte("dropped"))
	if n := countFiles(t, spool); n != 2 {
		t.Errorf("spool files while writing = %d, want 2", n)
	}
	if err := committed.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := aborted.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if n := countFiles(t, spool); n != 0 {
		t.Errorf("spool files after Commit and Abort = %d, want 0", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestS3CredentialsFromEnv(t *testing.T) {
	srv := s3test.Start(t)
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	s := newTestS3(t, srv, func(c *S3Config) { c.AccessKey, c.SecretKey = "", "" })

	if err := s.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
	mustPut(t, s, "env.ogg", []byte("env"))
}

func TestS3CredentialsFromFile(t *testing.T) {
	srv := s3test.Start(t)
	dir := isolateAWSEnv(t)
	file := filepath.Join(dir, "credentials")
	content := "[default]\naws_access_key_id = wrongkey\naws_secret_access_key = wrongsecret\n\n" +
		"[vmtest]\naws_access_key_id = " + srv.AccessKey + "\naws_secret_access_key = " + srv.SecretKey + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", file)
	t.Setenv("AWS_PROFILE", "vmtest")
	s := newTestS3(t, srv, func(c *S3Config) { c.AccessKey, c.SecretKey = "", "" })

	if err := s.Check(context.Background()); err != nil {
		t.Errorf("Check: %v", err)
	}
	mustPut(t, s, "file.ogg", []byte("file"))
}

func TestS3CredentialsMissing(t *testing.T) {
	isolateAWSEnv(t)
	_, err := NewS3(context.Background(), S3Config{Endpoint: "http://127.0.0.1:9", Bucket: "vm-test"}, nil)
	if err == nil || !strings.Contains(err.Error(), "missing S3 credentials") {
		t.Errorf("NewS3 without credentials: got %v, want a missing S3 credentials error", err)
	}
}

// isolateAWSEnv clears the AWS credential variables and points the AWS
// shared files into an empty temporary directory, which it returns, so
// the developer's own credentials cannot leak into a test.
func isolateAWSEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		t.Setenv(name, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("HOME", dir)
	return dir
}

func TestNewS3InvalidConfig(t *testing.T) {
	valid := S3Config{Endpoint: "http://127.0.0.1:9", Bucket: "vm-test", AccessKey: "a", SecretKey: "b"}
	tests := []struct {
		name string
		edit func(*S3Config)
		want string
	}{
		{"no endpoint", func(c *S3Config) { c.Endpoint = "" }, "endpoint"},
		{"endpoint without scheme", func(c *S3Config) { c.Endpoint = "127.0.0.1:9000" }, "endpoint"},
		{"endpoint with path", func(c *S3Config) { c.Endpoint = "http://127.0.0.1:9000/bucket" }, "endpoint"},
		{"no bucket", func(c *S3Config) { c.Bucket = "" }, "bucket"},
		{"short bucket", func(c *S3Config) { c.Bucket = "ab" }, "bucket"},
		{"bucket with capitals", func(c *S3Config) { c.Bucket = "VM" }, "bucket"},
		{"absolute prefix", func(c *S3Config) { c.Prefix = "/vm/" }, "prefix"},
		{"prefix with space", func(c *S3Config) { c.Prefix = "v m/" }, "prefix"},
		{"small part size", func(c *S3Config) { c.PartSize = 1 << 20 }, "part size"},
		{"huge part size", func(c *S3Config) { c.PartSize = 6 << 30 }, "part size"},
		{"secret key only", func(c *S3Config) { c.AccessKey = "" }, "credentials"},
		{"missing spool dir", func(c *S3Config) { c.SpoolDir = "/nonexistent/spool" }, "spool dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			_, err := NewS3(context.Background(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error naming %q", err, tt.want)
			}
		})
	}
	if _, err := NewS3(context.Background(), valid, nil); err != nil {
		t.Errorf("valid config: got %v, want nil", err)
	}
}

func TestS3ServerStopped(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, nil)
	ctx := context.Background()
	mustPut(t, s, "before.ogg", []byte("before"))
	srv.Stop()

	start := time.Now()
	err := Put(ctx, s, "during.ogg", strings.NewReader("during"))
	if err == nil {
		t.Fatal("Put with the server stopped: got nil error, want an error")
	}
	if !strings.Contains(err.Error(), "gave up after 5 attempts") {
		t.Errorf("Put error = %q, want it to say it gave up after 5 attempts", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Put took %v, want at most 5s with 1ms backoff", d)
	}
	if err := s.Check(ctx); err == nil {
		t.Error("Check with the server stopped: got nil error, want an error")
	}
	if _, _, err := s.Open(ctx, "before.ogg"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Open with the server stopped: got %v, want an error other than ErrNotFound", err)
	}

	srv.Restart()
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after restart: %v", err)
	}
	if got := mustRead(t, s, "before.ogg"); string(got) != "before" {
		t.Errorf("object stored before the outage = %q, want %q", got, "before")
	}
	if _, _, err := s.Open(ctx, "during.ogg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of the object that failed to commit: got %v, want ErrNotFound", err)
	}
	mustPut(t, s, "after.ogg", []byte("after"))
}

func TestS3RetriesServiceUnavailable(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		fail    []int // numbers of the requests that get 503, from 1
		retries int
		wantErr bool
	}{
		{"first requests", 100, []int{1, 2, 3}, 4, false},
		{"multipart part", largeObjectSize, []int{2}, 4, false},
		{"multipart complete", largeObjectSize, []int{5}, 4, false},
		{"more failures than retries", 100, []int{1, 2, 3}, 2, true},
	}
	srv := s3test.Start(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := startFaultProxy(t, srv.Endpoint, tt.fail...)
			s := newTestS3(t, srv, func(c *S3Config) {
				c.Endpoint = proxy.URL
				c.MaxRetries = tt.retries
			})
			want := randomBytes(tt.size)
			key := "retry/" + randomHex(4) + ".ogg"
			err := Put(context.Background(), s, key, strings.NewReader(string(want)))
			if got := proxy.failures(); got != len(tt.fail) {
				t.Errorf("503 responses sent = %d, want %d", got, len(tt.fail))
			}
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "SlowDown") {
					t.Errorf("Put: got %v, want a SlowDown error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got := mustRead(t, s, key); string(got) != string(want) {
				t.Errorf("content differs: got %d bytes, want %d", len(got), len(want))
			}
			if n := countIncompleteUploads(t, s, key); n != 0 {
				t.Errorf("incomplete multipart uploads left = %d, want 0", n)
			}
		})
	}
}

func countIncompleteUploads(t *testing.T, s *S3, key string) int {
	t.Helper()
	n := 0
	for u := range s.client.ListIncompleteUploads(context.Background(), s.bucket, s.prefix+key, true) {
		if u.Err != nil {
			t.Fatalf("list incomplete uploads: %v", u.Err)
		}
		n++
	}
	return n
}

// faultProxy is an HTTP proxy on a loopback port in front of an S3 server.
// It returns 503 SlowDown for the requests whose numbers, counted from 1,
// are in its fail set, and forwards all other requests unchanged.
type faultProxy struct {
	URL string

	mu     sync.Mutex
	n      int
	fail   map[int]bool
	failed int
}

func startFaultProxy(t *testing.T, target string, fail ...int) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{fail: map[int]bool{}}
	for _, n := range fail {
		p.fail[n] = true
	}
	forward := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		// The request is signed for the proxy's host, so it must reach
		// the server unchanged.
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.shouldFail() {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>`))
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *faultProxy) shouldFail() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.fail[p.n] {
		p.failed++
		return true
	}
	return false
}

func (p *faultProxy) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

func TestS3WrongSecretFailsFast(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, func(c *S3Config) { c.SecretKey = "not-the-secret" })
	s.retry.sleep = func(ctx context.Context, d time.Duration) error {
		t.Errorf("retried after %v, want no retry of a permanent error", d)
		return nil
	}
	err := Put(context.Background(), s, "a.ogg", strings.NewReader("x"))
	if err == nil {
		t.Fatal("Put with a wrong secret: got nil error, want an error")
	}
	for _, want := range []string{"SignatureDoesNotMatch", srv.Endpoint, srv.Bucket, "check the S3 access key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Put error = %q, want it to contain %q", err, want)
		}
	}
	if err := s.Check(context.Background()); err == nil {
		t.Error("Check with a wrong secret: got nil error, want an error")
	}
}

func TestS3MissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	s := newTestS3(t, srv, func(c *S3Config) { c.Bucket = "no-such-bucket" })
	s.retry.sleep = func(ctx context.Context, d time.Duration) error {
		t.Errorf("retried after %v, want no retry of a permanent error", d)
		return nil
	}
	err := Put(context.Background(), s, "a.ogg", strings.NewReader("x"))
	if err == nil {
		t.Fatal("Put: got nil error, want NoSuchBucket")
	}
	for _, want := range []string{"NoSuchBucket", "create the bucket", "no-such-bucket", srv.Endpoint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Put error = %q, want it to contain %q", err, want)
		}
	}
	_, _, err = s.Open(context.Background(), "a.ogg")
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("Open: got %v, want a NoSuchBucket error", err)
	}
	err = s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bucket not found") {
		t.Errorf("Check: got %v, want a bucket not found error", err)
	}
}

func TestS3CheckTimesOut(t *testing.T) {
	// This server accepts requests and never responds, like a hung
	// service.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	s, err := NewS3(context.Background(), S3Config{Endpoint: hang.URL, Region: "us-east-1", Bucket: "vm-test", AccessKey: "a", SecretKey: "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Check(ctx); err == nil {
		t.Error("Check: got nil error, want a timeout")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Check took %v, want about 200ms", d)
	}
}
