package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/internal/s3test"
)

// Bounds of the kill test, per store.
const (
	killRounds  = 5
	killSenders = 8
	killBudget  = 60 * time.Second
	// killMinUp and killMaxUp bound how long the relay serves before
	// each SIGKILL.
	killMinUp = 300 * time.Millisecond
	killMaxUp = 2500 * time.Millisecond
)

// killClips are the lengths of the speech clips the senders take turns
// sending.
var killClips = []time.Duration{time.Second, 1500 * time.Millisecond, 2 * time.Second}

// killStore is a blob store under test: the relay flags that select it
// and the directory that holds its objects.
type killStore struct {
	args    []string
	blobDir string
}

func TestKillRecoveryDisk(t *testing.T) {
	data := t.TempDir()
	testKillRecovery(t, data, killStore{blobDir: filepath.Join(data, "blobs")})
}

func TestKillRecoveryS3(t *testing.T) {
	s3 := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	testKillRecovery(t, t.TempDir(), killStore{
		args: []string{"--store", "s3", "--s3-endpoint", s3.Endpoint, "--s3-bucket", s3.Bucket,
			"--s3-region", "us-east-1", "--s3-prefix", "msgs/", "--s3-path-style"},
		blobDir: filepath.Join(s3.Dir, s3.Bucket, "msgs"),
	})
}

// sendResult is one finished vm send.
type sendResult struct {
	id   string
	clip time.Duration
}

// testKillRecovery runs senders against a relay that it kills with
// SIGKILL and restarts, round after round. It then checks that every
// acknowledged message is fetchable and decodes to its clip's length,
// that nothing listed is partial, and that after a recovery sweep the
// store holds exactly the audio of the listed messages.
func testKillRecovery(t *testing.T, data string, store killStore) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill test seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	clips := makeClips(t)
	relay := startRelay(t, data, store.args...)
	bob := newUser(t, relay, "bob")
	homes := make([]string, killSenders)
	for i := range homes {
		homes[i] = newUser(t, relay, "sender"+strconv.Itoa(i))
	}

	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked []sendResult
	var wg sync.WaitGroup
	for i, home := range homes {
		wg.Go(func() {
			for n := i; ctx.Err() == nil; n++ {
				clip := n % len(killClips)
				if id, ok := sendClip(home, clips[clip]); ok {
					mu.Lock()
					acked = append(acked, sendResult{id, killClips[clip]})
					mu.Unlock()
				}
			}
		})
	}

	deadline := time.Now().Add(killBudget)
	for round := 0; round < killRounds && time.Now().Before(deadline); round++ {
		up := killMinUp + time.Duration(rng.Int64N(int64(killMaxUp-killMinUp)))
		<-time.After(up)
		relay.kill(t)
		relay = startRelayOn(t, data, relay.Addr, store.args...)
	}
	stop()
	wg.Wait()
	relay.Stop(t)

	relay = startRelayOn(t, data, relay.Addr, append(store.args, "--orphan-grace", "1ns")...)
	sweep := waitForLog(t, relay, sweepDone)
	if sweep[2] != "0" {
		t.Errorf("recovery sweep found %s listed messages without audio, want 0:\n%s", sweep[2], sweep[0])
	}
	t.Logf("%d sends acknowledged; %s", len(acked), sweep[0])
	if len(acked) == 0 {
		t.Fatal("no send was acknowledged")
	}
	files := fetchFiles(t, bob, t.TempDir(), "--all")
	checkFetched(t, files, acked)
	if n := countFiles(t, store.blobDir); n != len(files) {
		t.Errorf("store holds %d objects after the sweep, want %d, one per listed message", n, len(files))
	}
}

// sweepDone matches the log line of a finished recovery sweep; the
// groups are the message count and the count of messages whose blob is
// missing.
var sweepDone = regexp.MustCompile(`recovery sweep done.*? messages=(\d+) .*missing=(\d+)`)

// makeClips cuts the test speech into the lengths of killClips with sox.
func makeClips(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox not installed; scripts/test.sh installs it")
	}
	dir := t.TempDir()
	var paths []string
	for _, d := range killClips {
		p := filepath.Join(dir, d.String()+".wav")
		out, err := exec.Command("sox", speechFile, p, "trim", "0", strconv.FormatFloat(d.Seconds(), 'f', 3, 64)).CombinedOutput()
		if err != nil {
			t.Fatalf("sox: %v\n%s", err, out)
		}
		paths = append(paths, p)
	}
	return paths
}

// sendClip runs vm send once and returns the printed id if it exited 0.
func sendClip(home, clip string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "vm"), "--home", home, "send", clip, "--to", "@bob")
	out, err := cmd.Output()
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(out)), true
}

// checkFetched checks that every file decodes to one of the clip
// lengths and that every acknowledged message is among the files with
// its own clip's length.
func checkFetched(t *testing.T, files []string, acked []sendResult) {
	t.Helper()
	lengths := make(map[string]time.Duration, len(files))
	for _, f := range files {
		d, err := decodedLength(f)
		if err != nil {
			t.Errorf("listed message %s does not decode: %v", filepath.Base(f), err)
			continue
		}
		if !nearClip(d) {
			t.Errorf("listed message %s lasts %v, want one of %v", filepath.Base(f), d, killClips)
		}
		lengths[messageID(f)] = d
	}
	for _, a := range acked {
		d, ok := lengths[a.id]
		switch {
		case !ok:
			t.Errorf("acknowledged message %s not fetched", a.id)
		case absDuration(d-a.clip) > 20*time.Millisecond:
			t.Errorf("acknowledged message %s lasts %v, want %v within 20 ms", a.id, d, a.clip)
		}
	}
}

func decodedLength(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	p, err := audio.DecodeOggOpus(f, 64<<20)
	if err != nil {
		return 0, err
	}
	return p.Duration(), nil
}

// messageID returns the id at the end of a fetched file's name,
// TIME-SENDER-ID.ogg.
func messageID(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return name[strings.LastIndex(name, "-")+1:]
}

func nearClip(d time.Duration) bool {
	for _, c := range killClips {
		if absDuration(d-c) <= 20*time.Millisecond {
			return true
		}
	}
	return false
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// kill sends SIGKILL to the relay and waits for it to exit.
func (p *relayProc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not exit within 10 s of SIGKILL")
	}
}

// waitForLog waits up to 30 s for a line of the relay's log to match re
// and returns the submatches.
func waitForLog(t *testing.T, p *relayProc, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.logText()); m != nil {
			return m
		}
		select {
		case <-deadline:
			t.Fatalf("no log line matching %q within 30 s:\n%s", re, p.logText())
		case <-p.done:
			t.Fatalf("relay exited while waiting for %q:\n%s", re, p.logText())
		case <-tick.C:
		}
	}
}
