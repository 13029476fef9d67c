package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/proto/pb"
)

// idAt returns a message id whose ULID time is t.
func idAt(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

func TestCheckUploadTimes(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		id      string
		created time.Time
		want    string // "" when the upload is accepted
	}{
		{name: "now", id: idAt(now)},
		{name: "retry a minute later", id: idAt(now.Add(-time.Minute))},
		{name: "23h old", id: idAt(now.Add(-23 * time.Hour))},
		{name: "59m ahead", id: idAt(now.Add(59 * time.Minute))},
		{name: "1970", id: idAt(time.UnixMilli(1000)), want: "has time 1970-01-01T00:00:01Z, more than 24h0m0s in the past: check the sender's clock"},
		{name: "2001", id: idAt(time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC)), want: "has time 2001-09-09T01:46:40Z, more than 24h0m0s in the past"},
		{name: "25h old", id: idAt(now.Add(-25 * time.Hour)), want: "in the past"},
		{name: "2h ahead", id: idAt(now.Add(2 * time.Hour)), want: "more than 1h0m0s in the future: check the sender's clock"},
		{name: "old creation time", id: idAt(now), created: time.UnixMilli(1000), want: "creation time 1970-01-01T00:00:01Z, more than 24h0m0s in the past"},
		{name: "future creation time", id: idAt(now), created: now.Add(3 * time.Hour), want: "creation time 2026-03-01T15:00:00Z, more than 1h0m0s in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpload("@bob")
			up.MessageId = tt.id
			if !tt.created.IsZero() {
				up.CreatedUnixMs = tt.created.UnixMilli()
			}
			h, err := checkUpload(up, now)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if h.id != tt.id {
					t.Errorf("got id %s, want %s", h.id, tt.id)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if got := toProto(err); got.Code != pb.ErrorCode_ERROR_CODE_BAD_REQUEST {
				t.Errorf("got code %v, want BAD_REQUEST", got.Code)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
			if tt.created.IsZero() && !strings.Contains(err.Error(), tt.id) {
				t.Errorf("got %q, want it to name the id %s", err, tt.id)
			}
		})
	}
}
