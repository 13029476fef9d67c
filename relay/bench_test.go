package relay

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto/pb"
)

// BenchmarkIngest stores 10-second messages (500 frames of 60 bytes)
// from 32 concurrent connections into one relay and reports stored
// messages per second. Run it with:
//
//	go test -run '^$' -bench Ingest -benchtime 2000x ./relay
func BenchmarkIngest(b *testing.B) {
	const senders = 32
	srv := startServer(b, Config{})
	newUser(b, srv, "sink")
	clients := make([]*testClient, senders)
	for i := range clients {
		clients[i] = newUser(b, srv, fmt.Sprintf("sender%d", i))
	}
	records := testRecords(500, testPreSkip)
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				res, _, err := c.roundTrip(&pb.Request{Body: &pb.Request_Upload{Upload: newUpload("@sink")}}, records)
				if err != nil || res.Error != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d uploads failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
