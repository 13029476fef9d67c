package relay

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vm-voice/vm/relay/meta"
)

// sendAt uploads a message of n frames created at the given time and
// returns its id.
func (c *testClient) sendAt(to string, n int, created time.Time) string {
	c.t.Helper()
	up := newUpload(to)
	up.CreatedUnixMs = created.UnixMilli()
	res := c.upload(up, testRecords(n, testPreSkip))
	if res.Error != nil {
		c.t.Fatalf("upload to %s: %v", to, res.Error)
	}
	return res.GetUpload().MessageId
}

// remaining returns which of ids are still stored in conv, with their
// blobs.
func remaining(t *testing.T, srv *testServer, conv string, ids []string) []string {
	t.Helper()
	var got []string
	for _, id := range ids {
		m, err := srv.meta.FindMessage(context.Background(), conv, id)
		if errors.Is(err, meta.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("FindMessage: %v", err)
		}
		if !blobPresent(t, srv.blobs, m.BlobKey) {
			t.Errorf("message %s listed without its blob", id)
		}
		got = append(got, id)
	}
	return got
}

func TestRetentionMaxAge(t *testing.T) {
	srv := startServer(t, Config{RetentionMaxAge: 12 * time.Hour})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	now := time.Now()
	// The relay takes creation times up to 24 hours old.
	old := alice.sendAt("@bob", 5, now.Add(-20*time.Hour))
	recent := alice.sendAt("@bob", 5, now.Add(-time.Hour))
	m, err := srv.meta.FindMessage(context.Background(), "d.alice.bob", old)
	if err != nil {
		t.Fatalf("FindMessage: %v", err)
	}

	st, err := srv.applyRetention(context.Background(), now)
	if err != nil {
		t.Fatalf("applyRetention: %v", err)
	}
	if st.expired != 1 || st.overQuota != 0 {
		t.Errorf("got %d expired, %d over quota; want 1, 0", st.expired, st.overQuota)
	}
	if got := remaining(t, srv, "d.alice.bob", []string{old, recent}); !slices.Equal(got, []string{recent}) {
		t.Errorf("got %v stored, want %v", got, []string{recent})
	}
	if blobPresent(t, srv.blobs, m.BlobKey) {
		t.Error("blob of the expired message still stored")
	}
}

func TestRetentionUserQuota(t *testing.T) {
	srv := startServer(t, Config{RetentionUserQuota: 2500})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	now := time.Now()
	// Each message of 20 frames takes about 1.3 kB, so alice's three
	// exceed the quota by one message and bob's one fits.
	var aliceIDs []string
	for i := range 3 {
		aliceIDs = append(aliceIDs, alice.sendAt("@bob", 20, now.Add(time.Duration(i-3)*time.Minute)))
	}
	bobID := bob.sendAt("@alice", 20, now.Add(-time.Minute))

	st, err := srv.applyRetention(context.Background(), now)
	if err != nil {
		t.Fatalf("applyRetention: %v", err)
	}
	if st.overQuota != 2 {
		t.Errorf("got %d deleted over quota, want 2", st.overQuota)
	}
	if got := remaining(t, srv, "d.alice.bob", aliceIDs); !slices.Equal(got, aliceIDs[2:]) {
		t.Errorf("alice's messages: got %v stored, want the newest %v", got, aliceIDs[2:])
	}
	if got := remaining(t, srv, "d.alice.bob", []string{bobID}); len(got) != 1 {
		t.Errorf("bob's message deleted although bob is under the quota")
	}
}

func TestRunMaintenanceSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var sweeps, passes int
		done := make(chan struct{})
		go func() {
			defer close(done)
			runMaintenance(ctx, func(context.Context) { sweeps++ }, func(context.Context) { passes++ })
		}()
		time.Sleep(2*time.Hour + time.Second)
		synctest.Wait()
		if sweeps != 3 {
			t.Errorf("got %d sweeps in 2 h, want 3 (at start and hourly)", sweeps)
		}
		if want := 1 + int(2*time.Hour/retentionInterval); passes != want {
			t.Errorf("got %d retention passes in 2 h, want %d", passes, want)
		}
		cancel()
		<-done
	})
}
