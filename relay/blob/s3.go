package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// S3 part size limits. S3 rejects non-final parts below 5 MiB and any part
// above 5 GiB.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

const (
	defaultRetries = 4
	// checkTimeout bounds Check when its context has no deadline.
	checkTimeout = 10 * time.Second
	// probeKeyPrefix starts the keys of Check's probe objects. CheckKey
	// rejects keys starting with '.', so a probe never replaces a message.
	probeKeyPrefix   = ".check-"
	oggContentType   = "audio/ogg"
	spoolFilePattern = "vm-s3-spool-*"
)

// S3Config is the configuration of an S3 store.
type S3Config struct {
	// Endpoint is the service's base URL, such as https://s3.amazonaws.com
	// or http://127.0.0.1:7070. Its scheme selects TLS.
	Endpoint string
	// Region is the bucket's region. When empty, the client asks the
	// service for the bucket's location before its first request.
	Region string
	// Bucket is the name of an existing bucket.
	Bucket string
	// Prefix is prepended verbatim to every key, for example "vm/".
	Prefix string
	// PathStyle forces path-style addressing (endpoint/bucket/key). When
	// false, minio-go v7.4.1 uses virtual-hosted addressing
	// (bucket.endpoint/key) for Amazon S3, Google Cloud Storage and
	// Alibaba OSS hosts and path-style for all others.
	PathStyle bool
	// AccessKey, SecretKey and SessionToken are static credentials. When
	// AccessKey is empty, the store reads AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, and then the profile
	// named by AWS_PROFILE (default "default") in the AWS shared files
	// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, and
	// AWS_CONFIG_FILE or ~/.aws/config). Following the AWS SDKs, such a
	// profile may run its credential_process or use AWS SSO.
	AccessKey    string
	SecretKey    string
	SessionToken string
	// PartSize is the size in bytes of each part of a multipart upload.
	// Objects up to PartSize go in one PUT. Zero means 5 MiB, the S3
	// minimum.
	PartSize int64
	// MaxRetries is how many times a request that failed with a transient
	// error is repeated. Zero means 4, and a negative value disables
	// retries.
	MaxRetries int
	// SpoolDir is the directory for the temporary files that hold objects
	// until they are committed. Empty means os.TempDir().
	SpoolDir string
}

// S3 is a Store that keeps each object in an S3 bucket under Prefix+key.
// A Writer spools the object to a temporary file so memory use does not
// grow with the message, and Commit uploads it, in parts when it is larger
// than the part size. Commit returns only after S3 acknowledged the PUT.
type S3 struct {
	client   *minio.Client
	endpoint string
	bucket   string
	prefix   string
	partSize int64
	spoolDir string
	retry    retryPolicy
	log      *slog.Logger
}

// NewS3 validates cfg, resolves the credentials and returns a store for
// the bucket. It sends no request to the S3 service, so the bucket need
// not exist yet and ctx is unused. Check reports whether the store is
// usable. A nil log discards retry messages.
func NewS3(ctx context.Context, cfg S3Config, log *slog.Logger) (*S3, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	endpoint, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	creds, err := s3Credentials(cfg)
	if err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(endpoint.Host, &minio.Options{
		Creds:        creds,
		Secure:       endpoint.Scheme == "https",
		Region:       cfg.Region,
		BucketLookup: lookup,
		// One attempt per call, because retryPolicy does the retrying.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create S3 client for %s: %w", cfg.Endpoint, err)
	}
	return &S3{
		client:   client,
		endpoint: cfg.Endpoint,
		bucket:   cfg.Bucket,
		prefix:   cfg.Prefix,
		partSize: cfg.PartSize,
		spoolDir: cfg.SpoolDir,
		retry:    newRetryPolicy(cfg.MaxRetries),
		log:      log.With("bucket", cfg.Bucket),
	}, nil
}

// setDefaults fills in zero settings and rejects invalid ones.
func (c *S3Config) setDefaults() error {
	if err := s3utils.CheckValidBucketName(c.Bucket); err != nil {
		return fmt.Errorf("invalid S3 bucket %q: %w", c.Bucket, err)
	}
	if c.Prefix != "" && CheckKey(strings.TrimSuffix(c.Prefix, "/")) != nil {
		return fmt.Errorf("invalid S3 prefix %q: use key parts of letters, digits, '.', '-' and '_', such as \"vm/\"", c.Prefix)
	}
	if c.PartSize == 0 {
		c.PartSize = minPartSize
	}
	if c.PartSize < minPartSize || c.PartSize > maxPartSize {
		return fmt.Errorf("invalid S3 part size %d: want %d to %d bytes", c.PartSize, int64(minPartSize), int64(maxPartSize))
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = defaultRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	if c.SpoolDir == "" {
		c.SpoolDir = os.TempDir()
	}
	if st, err := os.Stat(c.SpoolDir); err != nil || !st.IsDir() {
		return fmt.Errorf("invalid S3 spool dir %q: not an existing directory", c.SpoolDir)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return errors.New("invalid S3 credentials: set both access key and secret key, or neither to use the AWS environment variables and shared files")
	}
	return nil
}

// parseEndpoint checks that s is an http or https URL with a host and no
// path, query or user.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid S3 endpoint %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid S3 endpoint %q: want http://host[:port] or https://host[:port]", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("invalid S3 endpoint %q: remove the path, query and user info", s)
	}
	return u, nil
}

// s3Credentials returns the static credentials from cfg, or else a chain
// of the AWS environment variables and shared files. The chain leaves out
// the EC2 and ECS instance metadata providers on purpose, so the store
// never sends requests to a metadata address.
func s3Credentials(cfg S3Config) (*credentials.Credentials, error) {
	if cfg.AccessKey != "" {
		return credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken), nil
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
	v, err := creds.GetWithContext(nil)
	if err != nil {
		return nil, fmt.Errorf("read S3 credentials: %w", err)
	}
	if v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return nil, errors.New("missing S3 credentials: set the access key and secret key, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in the AWS shared credentials file")
	}
	return creds, nil
}

// Create opens a spool file for the object in the spool directory.
func (s *S3) Create(ctx context.Context, key string) (Writer, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("create blob %q: %w", key, err)
	}
	f, err := os.CreateTemp(s.spoolDir, spoolFilePattern)
	if err != nil {
		return nil, fmt.Errorf("create blob %q: spool file: %w", key, err)
	}
	return &s3Writer{s: s, key: key, f: f}, nil
}

// Open sends one GET for the object and returns its body once the
// response headers arrive, so a missing object returns ErrNotFound at
// once. Reads of the body stop when ctx ends, and a connection lost while
// reading is not retried.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := CheckKey(key); err != nil {
		return nil, 0, fmt.Errorf("open blob %q: %w", key, err)
	}
	var body io.ReadCloser
	var size int64
	err := s.retry.do(ctx, s.log, "get", key, func(ctx context.Context) error {
		r, info, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		body, size = r, info.Size
		return nil
	})
	if err != nil {
		return nil, 0, s.wrap("open blob", key, err)
	}
	return body, size, nil
}

// Delete removes the object. S3 deletes succeed for missing keys, so
// Delete first fetches the object's metadata to return ErrNotFound. An
// object deleted by someone else between the two requests counts as
// deleted by this call.
//
// NOTE: the metadata request is a HEAD, whose 404 response has no body,
// so a missing bucket also yields ErrNotFound here. Check reports it.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("delete blob %q: %w", key, err)
	}
	err := s.retry.do(ctx, s.log, "stat", key, func(ctx context.Context) error {
		_, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return s.wrap("delete blob", key, err)
	}
	err = s.retry.do(ctx, s.log, "delete", key, func(ctx context.Context) error {
		return s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	})
	if err != nil {
		return s.wrap("delete blob", key, err)
	}
	return nil
}

// Check confirms that the bucket exists and that a small probe object
// under the prefix can be written, read back and deleted. It does not
// retry, so it reports the service's state now. Without a deadline on ctx
// it gives up after 10 seconds.
func (s *S3) Check(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, checkTimeout)
		defer cancel()
	}
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("check bucket", "", err)
	}
	if !ok {
		return fmt.Errorf("check bucket %q at %s: bucket not found%s", s.bucket, s.endpoint, hint(minio.NoSuchBucket))
	}
	return s.checkProbe(ctx)
}

// checkProbe writes, reads back and deletes a probe object.
func (s *S3) checkProbe(ctx context.Context) error {
	key := probeKeyPrefix + randomHex(8)
	want := "ok " + key
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, strings.NewReader(want), int64(len(want)), minio.PutObjectOptions{})
	if err != nil {
		return s.wrap("check put", key, err)
	}
	got, readErr := s.readAll(ctx, key)
	delErr := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	switch {
	case readErr != nil:
		return s.wrap("check get", key, readErr)
	case string(got) != want:
		return fmt.Errorf("check get %q in bucket %q at %s: read back %d bytes that differ from the %d written", s.prefix+key, s.bucket, s.endpoint, len(got), len(want))
	case delErr != nil:
		return s.wrap("check delete", key, delErr)
	}
	return nil
}

func (s *S3) readAll(ctx context.Context, key string) ([]byte, error) {
	r, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// wrap adds the operation, object key, bucket and endpoint to err, turns
// a missing object into ErrNotFound and adds a hint for the errors that a
// setting causes. With an empty key the operation is on the bucket.
func (s *S3) wrap(op, key string, err error) error {
	subject := fmt.Sprintf("%s %q at %s", op, s.bucket, s.endpoint)
	if key != "" {
		subject = fmt.Sprintf("%s %q in bucket %q at %s", op, s.prefix+key, s.bucket, s.endpoint)
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) || resp.Code == "" {
		return fmt.Errorf("%s: %w", subject, err)
	}
	if resp.Code == minio.NoSuchKey || resp.StatusCode == 404 && resp.Code != minio.NoSuchBucket {
		return fmt.Errorf("%s: %w", subject, ErrNotFound)
	}
	return fmt.Errorf("%s: %s%s: %w", subject, resp.Code, hint(resp.Code), err)
}

// hint returns advice for S3 error codes that point at a wrong setting.
func hint(code string) string {
	switch code {
	case minio.NoSuchBucket:
		return " (create the bucket or fix the bucket setting)"
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken":
		return " (check the S3 access key, secret key and bucket policy)"
	case "AuthorizationHeaderMalformed", "InvalidRegion", "IllegalLocationConstraintException":
		return " (check the S3 region setting)"
	}
	return ""
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// s3Writer spools one object to a temporary file until Commit uploads it.
type s3Writer struct {
	s    *S3
	key  string
	f    *os.File
	size int64
	done bool
}

func (w *s3Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write blob %q: writer already closed", w.key)
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

// Commit uploads the spooled content and removes the spool file, whether
// or not the upload succeeded.
func (w *s3Writer) Commit(ctx context.Context) error {
	if w.done {
		return fmt.Errorf("commit blob %q: writer already closed", w.key)
	}
	w.done = true
	defer w.removeSpool()
	err := w.s.retry.do(ctx, w.s.log, "put", w.key, func(ctx context.Context) error {
		return w.put(ctx)
	})
	if err != nil {
		return w.s.wrap("commit blob", w.key, err)
	}
	return nil
}

// put uploads the whole spool file once. minio-go switches to a multipart
// upload when the size exceeds the part size, and aborts that upload when
// a part fails. Parts go one at a time: with parallel parts minio-go sends
// the abort while other parts are still in flight, and a part that arrives
// after the abort can leave an incomplete upload behind. Tests saw this
// with versitygw 1.8.0, and the AWS AbortMultipartUpload reference warns
// that part uploads in progress during an abort may still succeed.
//
// NOTE: the abort is itself a request, so it fails when the service is
// down, and the uploaded parts stay in the bucket. A lifecycle rule that
// aborts incomplete multipart uploads removes them.
func (w *s3Writer) put(ctx context.Context) error {
	body := io.NewSectionReader(w.f, 0, w.size)
	_, err := w.s.client.PutObject(ctx, w.s.bucket, w.s.prefix+w.key, body, w.size, minio.PutObjectOptions{
		ContentType: oggContentType,
		PartSize:    uint64(w.s.partSize),
		NumThreads:  1,
	})
	return err
}

func (w *s3Writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	return w.removeSpool()
}

func (w *s3Writer) removeSpool() error {
	w.f.Close()
	if err := os.Remove(w.f.Name()); err != nil {
		return fmt.Errorf("remove spool file for blob %q: %w", w.key, err)
	}
	return nil
}
