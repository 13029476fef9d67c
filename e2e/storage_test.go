package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vm-voice/vm/internal/s3test"
)

// s3RelayArgs returns the relay flags that keep message audio in srv's
// bucket under the prefix "msgs/", and sets the credentials in the AWS
// environment variables.
func s3RelayArgs(t *testing.T, srv *s3test.Server) []string {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	return []string{"--store", "s3", "--s3-endpoint", srv.Endpoint, "--s3-bucket", srv.Bucket,
		"--s3-region", "us-east-1", "--s3-prefix", "msgs/", "--s3-path-style"}
}

// sweepOrphans matches the log line of a finished recovery sweep; the
// group is the count of orphan blobs it deleted.
var sweepOrphans = regexp.MustCompile(`recovery sweep done.* orphans_deleted=(\d+) `)

func TestS3SharedBucketTwoRelays(t *testing.T) {
	s3 := s3test.Start(t)
	args := s3RelayArgs(t, s3)
	relayA := startRelay(t, t.TempDir(), args...)
	alice := newUser(t, relayA, "alice")
	bob := newUser(t, relayA, "bob")
	id := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
	objects := filepath.Join(s3.Dir, s3.Bucket, "msgs")

	// Relay B has its own metadata, so relay A's message is unknown to it.
	relayB := startRelay(t, t.TempDir(), append(args, "--orphan-grace", "1ns")...)
	sweep := waitForLog(t, relayB, sweepOrphans)
	if sweep[1] != "0" {
		t.Errorf("got %s orphans deleted by relay B, want 0:\n%s", sweep[1], sweep[0])
	}
	if n := countFiles(t, objects); n != 1 {
		t.Errorf("got %d objects under the bucket's msgs/ prefix after relay B's sweep, want 1", n)
	}
	files := fetchFiles(t, bob, t.TempDir())
	if len(files) != 1 || !strings.Contains(files[0], id) {
		t.Fatalf("bob fetched %v, want message %s", files, id)
	}
	checkSpeech(t, files[0], loadSpeech(t, speechFile))
}

func TestFetchBrokenBlobReported(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 1000); err != nil {
				t.Fatal(err)
			}
		}, "is damaged on the relay (1000 of "},
		{"missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "is missing on the relay; ask the operator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := t.TempDir()
			relay := startRelay(t, data)
			alice := newUser(t, relay, "alice")
			bob := newUser(t, relay, "bob")
			broken := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
			intact := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
			tt.damage(t, blobPath(t, data, broken))

			out := t.TempDir()
			for run := 1; run <= 2; run++ {
				r := vm(t, bob, "fetch", "--out", out)
				checkFailure(t, r, broken, tt.want)
				files := strings.Fields(r.Stdout)
				switch {
				case run == 1 && (len(files) != 1 || !strings.Contains(files[0], intact)):
					t.Errorf("run 1: got files %v, want message %s", files, intact)
				case run == 2 && len(files) != 0:
					t.Errorf("run 2: got files %v, want none because message %s was fetched before", files, intact)
				}
			}
			failed := regexp.MustCompile(`level=ERROR msg="request failed".*msg_id=` + broken)
			if n := len(failed.FindAllString(relay.logText(), -1)); n != 2 {
				t.Errorf("got %d error log lines for message %s, want 2, one per fetch:\n%s", n, broken, relay.logText())
			}
		})
	}
}

// blobPath returns the path of the blob file of message id under the
// disk store of the relay with data directory data.
func blobPath(t *testing.T, data, id string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(data, "blobs", "*", id[:6], id+".*.ogg"))
	if err != nil || len(matches) != 1 {
		t.Fatalf("got blob files %v (err %v) for message %s, want one", matches, err, id)
	}
	return matches[0]
}
