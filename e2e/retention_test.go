package e2e

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// storedBytes matches the relay's log line of a stored upload and
// captures the message id and the blob's size.
var storedBytes = regexp.MustCompile(`msg="upload stored" .*msg_id=(\S+) bytes=(\d+)`)

func TestRetentionQuotaAtRestart(t *testing.T) {
	data := t.TempDir()
	relay := startRelay(t, data)
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	first := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
	second := strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob"))
	m := storedBytes.FindStringSubmatch(relay.logText())
	if m == nil {
		t.Fatalf("no upload stored line in the log:\n%s", relay.logText())
	}
	size, _ := strconv.Atoi(m[2])
	relay.Stop(t)

	// A quota of one and a half messages keeps only the newer one. The
	// environment variable sets it, as RELAY_* variables set every flag.
	t.Setenv("RELAY_RETENTION_USER_QUOTA", strconv.Itoa(size*3/2))
	relay = startRelayOn(t, data, relay.Addr)
	pass := waitForLog(t, relay, regexp.MustCompile(`retention pass done.*? over_quota=(\d+)`))
	if pass[1] != "1" {
		t.Errorf("retention deleted %s messages over quota, want 1:\n%s", pass[1], pass[0])
	}
	files := fetchFiles(t, bob, t.TempDir(), "--all")
	if len(files) != 1 || messageID(files[0]) != second {
		t.Errorf("bob fetched %v, want only %s (and not %s)", files, second, first)
	}
	if n := countFiles(t, filepath.Join(data, "blobs")); n != 1 {
		t.Errorf("got %d blobs after retention, want 1", n)
	}
}
