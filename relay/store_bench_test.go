package relay

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vm-voice/vm/internal/s3test"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/blob"
)

// BenchmarkStoreIngest stores 10-second messages (500 frames of 60
// bytes) from 16 concurrent connections into a relay on the disk store
// and on the S3 store (versitygw on loopback). It reports stored messages
// per second and the 50th and 99th percentile of the time from sending
// the upload request to reading its acknowledgement. Run it with:
//
//	go test -run '^$' -bench StoreIngest -benchtime 1000x ./relay
func BenchmarkStoreIngest(b *testing.B) {
	b.Run("disk", func(b *testing.B) {
		benchmarkIngest(b, startServer(b, Config{}))
	})
	b.Run("s3", func(b *testing.B) {
		srv := s3test.Start(b)
		benchmarkIngest(b, startServer(b, Config{Store: StoreS3, S3: blob.S3Config{
			Endpoint: srv.Endpoint, Region: "us-east-1", Bucket: srv.Bucket, Prefix: "vm/",
			PathStyle: true, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, SpoolDir: b.TempDir(),
		}}))
	})
}

func benchmarkIngest(b *testing.B, srv *testServer) {
	const senders = 16
	newUser(b, srv, "sink")
	clients := make([]*testClient, senders)
	for i := range clients {
		clients[i] = newUser(b, srv, fmt.Sprintf("sender%d", i))
	}
	records := testRecords(500, testPreSkip)
	var next, failed atomic.Int64
	var mu sync.Mutex
	acks := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				res, _, err := c.roundTrip(&pb.Request{Body: &pb.Request_Upload{Upload: newUpload("@sink")}}, records)
				d := time.Since(t0)
				if err != nil || res.Error != nil {
					failed.Add(1)
					continue
				}
				mu.Lock()
				acks = append(acks, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d uploads failed", n, b.N)
	}
	slices.Sort(acks)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(ms(acks[len(acks)/2]), "ack_p50_ms")
	b.ReportMetric(ms(acks[len(acks)*99/100]), "ack_p99_ms")
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
