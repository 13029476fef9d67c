package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vm-voice/vm/internal/s3test"
)

// startS3Relay starts versitygw and a relay that keeps message audio in
// its bucket, with the credentials in the AWS environment variables.
func startS3Relay(t *testing.T, data string) (*relayProc, *s3test.Server) {
	t.Helper()
	s3 := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	relay := startRelay(t, data, "--store", "s3", "--s3-endpoint", s3.Endpoint,
		"--s3-bucket", s3.Bucket, "--s3-region", "us-east-1", "--s3-prefix", "msgs/", "--s3-path-style")
	return relay, s3
}

// countFiles returns the regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.Contains(path, "/.") {
			n++
		}
		return nil
	})
	return n
}

func TestSendFetchS3(t *testing.T) {
	data := t.TempDir()
	relay, s3 := startS3Relay(t, data)
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")

	id := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
	if n := countFiles(t, filepath.Join(s3.Dir, s3.Bucket, "msgs")); n != 1 {
		t.Errorf("got %d objects under the bucket's msgs/ prefix, want 1", n)
	}
	if n := countFiles(t, filepath.Join(data, "blobs")); n != 0 {
		t.Errorf("got %d blob files on disk with --store s3, want 0", n)
	}

	relay.Stop(t)
	relay = startRelayOn(t, data, relay.Addr, "--store", "s3", "--s3-endpoint", s3.Endpoint,
		"--s3-bucket", s3.Bucket, "--s3-region", "us-east-1", "--s3-prefix", "msgs/", "--s3-path-style")

	files := fetchFiles(t, bob, t.TempDir())
	if len(files) != 1 || !strings.Contains(files[0], id) {
		t.Fatalf("bob fetched %v, want message %s", files, id)
	}
	checkSpeech(t, files[0], loadSpeech(t, speechFile))
}

func TestRelayConfigFile(t *testing.T) {
	data := t.TempDir()
	conf := writeFile(t, "relay.toml", []byte("max-message-duration = \"2s\"\nregistration = \"open\"\n"))
	relay := startRelay(t, data, "--config", conf)
	alice := newUser(t, relay, "alice")
	newUser(t, relay, "bob")
	checkFailure(t, vm(t, alice, "send", speechFile, "--to", "@bob"), "limit")

	bad := writeFile(t, "bad.toml", []byte("max-mesage-duration = \"2s\"\n"))
	out, err := execRelay(t, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--config", bad)
	if err == nil {
		t.Fatalf("relay accepted a misspelt setting; output %s", out)
	}
	if !strings.Contains(out, "max-mesage-duration") {
		t.Errorf("error %q does not name the unknown setting", out)
	}
}
