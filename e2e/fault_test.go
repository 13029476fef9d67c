package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vm-voice/vm/internal/s3test"
)

// faultCase is a storage fault that a test can start and clear while a
// relay runs.
type faultCase struct {
	name string
	// setup prepares the store and returns the relay flags that use it.
	setup func(t *testing.T, data string) []string
	// inject starts the fault and clear ends it.
	inject, clear func(t *testing.T)
}

func TestStorageFaults(t *testing.T) {
	for _, fc := range []faultCase{diskFullFault(), readOnlyFault(), s3StoppedFault(), s3ErrorFault()} {
		t.Run(fc.name, func(t *testing.T) {
			testFault(t, fc)
		})
	}
}

// testFault checks a relay through one fault: sends fail with one line
// naming the storage fault, /healthz returns 503, the relay stays up, and
// once the fault clears /healthz returns 200 and sends succeed. Every send
// that exited 0, before, during or after the fault, is fetchable.
func testFault(t *testing.T, fc faultCase) {
	data := t.TempDir()
	args := append(fc.setup(t, data), "--http-listen", "127.0.0.1:0")
	relay := startRelay(t, data, args...)
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	var acked []string
	acked = append(acked, strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob")))
	checkHealth(t, relay, http.StatusOK, "")

	fc.inject(t)
	r := vm(t, alice, "send", speechFile, "--to", "@bob")
	if r.Code == 0 {
		t.Errorf("send during the fault exited 0 with %q, want a failure", r.Stdout)
		acked = append(acked, strings.TrimSpace(r.Stdout))
	} else {
		checkFailure(t, r, "storage unavailable")
	}
	checkHealth(t, relay, http.StatusServiceUnavailable, "blob store")
	if !regexpRequestFailed.MatchString(relay.logText()) {
		t.Errorf("relay log has no request failure with msg_id:\n%s", relay.logText())
	}

	fc.clear(t)
	checkHealth(t, relay, http.StatusOK, "")
	acked = append(acked, strings.TrimSpace(mustVM(t, alice, "send", speechFile, "--to", "@bob")))
	checkAcked(t, bob, acked)
}

// checkHealth fetches /healthz and checks its status and that its body
// contains want.
func checkHealth(t *testing.T, relay *relayProc, status int, want string) {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Get("http://" + relay.HTTP + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Errorf("/healthz status %d (%s), want %d", resp.StatusCode, strings.TrimSpace(string(body)), status)
	}
	if !strings.Contains(string(body), want) {
		t.Errorf("/healthz body %q does not contain %q", body, want)
	}
}

// checkAcked fetches all of bob's messages and checks that each id in
// acked is among them and decodes.
func checkAcked(t *testing.T, bob string, acked []string) {
	t.Helper()
	files := fetchFiles(t, bob, t.TempDir(), "--all")
	got := map[string]string{}
	for _, f := range files {
		got[messageID(f)] = f
	}
	for _, id := range acked {
		f, ok := got[id]
		if !ok {
			t.Errorf("acknowledged message %s not fetched; fetched %v", id, files)
			continue
		}
		if _, err := decodedLength(f); err != nil {
			t.Errorf("message %s does not decode: %v", id, err)
		}
	}
}

// mountTmpfs mounts a tmpfs of the given size on dir until the test
// ends, or skips the test when mounting is not permitted.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs on %s (needs root): %v %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// diskFullFault fills a 2 MiB tmpfs that holds the blobs.
func diskFullFault() faultCase {
	var filler string
	return faultCase{
		name: "disk full",
		setup: func(t *testing.T, data string) []string {
			blobs := filepath.Join(data, "blobs")
			mountTmpfs(t, blobs, "2m")
			// CheckKey rejects names starting with '.', so the relay
			// never lists the filler as a blob.
			filler = filepath.Join(blobs, ".filler")
			return nil
		},
		inject: func(t *testing.T) {
			f, err := os.Create(filler)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, 4<<20)); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write 4 MiB to a 2 MiB tmpfs: got %v, want ENOSPC", err)
			}
		},
		clear: func(t *testing.T) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// readOnlyFault remounts the tmpfs that holds the blobs read-only.
func readOnlyFault() faultCase {
	var blobs string
	return faultCase{
		name: "read-only blobs",
		setup: func(t *testing.T, data string) []string {
			blobs = filepath.Join(data, "blobs")
			mountTmpfs(t, blobs, "16m")
			return nil
		},
		inject: func(t *testing.T) { run(t, "mount", "-o", "remount,ro", blobs) },
		clear:  func(t *testing.T) { run(t, "mount", "-o", "remount,rw", blobs) },
	}
}

// s3Args returns the relay flags for a store in srv's bucket at endpoint.
func s3Args(t *testing.T, srv *s3test.Server, endpoint string) []string {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	return []string{"--store", "s3", "--s3-endpoint", endpoint, "--s3-bucket", srv.Bucket,
		"--s3-region", "us-east-1", "--s3-prefix", "msgs/", "--s3-path-style"}
}

// s3StoppedFault stops versitygw.
func s3StoppedFault() faultCase {
	var srv *s3test.Server
	return faultCase{
		name: "s3 stopped",
		setup: func(t *testing.T, data string) []string {
			srv = s3test.Start(t)
			return s3Args(t, srv, srv.Endpoint)
		},
		inject: func(t *testing.T) { srv.Stop() },
		clear:  func(t *testing.T) { srv.Restart() },
	}
}

// s3ErrorFault puts a proxy in front of versitygw that fails every
// request with 500 InternalError while the fault lasts.
func s3ErrorFault() faultCase {
	var failing atomic.Bool
	return faultCase{
		name: "s3 errors",
		setup: func(t *testing.T, data string) []string {
			srv := s3test.Start(t)
			target, err := url.Parse(srv.Endpoint)
			if err != nil {
				t.Fatal(err)
			}
			fwd := httputil.NewSingleHostReverseProxy(target)
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if failing.Load() {
					io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/xml")
					w.WriteHeader(http.StatusInternalServerError)
					io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>`)
					return
				}
				fwd.ServeHTTP(w, r)
			}))
			t.Cleanup(proxy.Close)
			return s3Args(t, srv, proxy.URL)
		},
		inject: func(t *testing.T) { failing.Store(true) },
		clear:  func(t *testing.T) { failing.Store(false) },
	}
}

// TestFaultClearsDuringRetry checks that a send started on a full disk
// succeeds when space frees up within the client's retry window.
func TestFaultClearsDuringRetry(t *testing.T) {
	fc := diskFullFault()
	data := t.TempDir()
	relay := startRelay(t, data, fc.setup(t, data)...)
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	fc.inject(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "vm"), "--home", alice, "send", speechFile, "--to", "@bob")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The client's first retry comes 0.5 s after the first failure.
	waitForLog(t, relay, regexpRequestFailed)
	fc.clear(t)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("send across a cleared fault: %v\n%s", err, stderr.String())
	}
	checkAcked(t, bob, []string{strings.TrimSpace(stdout.String())})
}

// regexpRequestFailed matches the relay's log line of a failed upload.
var regexpRequestFailed = regexp.MustCompile(`msg="request failed" .*msg_id=\S+ conv=\S+ `)
