package relay

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	gproto "google.golang.org/protobuf/proto"
)

// listing returns a response with n messages shaped like the relay's, each
// listened by listeners members.
func listing(n, listeners int) (*pb.Response, *pb.MessageList) {
	list := &pb.MessageList{}
	for i := range n {
		m := &pb.MessageInfo{
			MessageId:     fmt.Sprintf("01JABCDEFGHJKMNPQRSTVW%04d", i),
			Conversation:  "c.operations",
			Sender:        "alice",
			Seq:           uint64(i + 1),
			CreatedUnixMs: 1796400000000 + int64(i)*1000,
			DurationMs:    12340,
			Bytes:         45678,
			Frames:        617,
			BlobKey:       fmt.Sprintf("0123456789abcdef/01JABC/01JABCDEFGHJKMNPQRSTVW%04d.alice.c.operations.ogg", i),
		}
		for j := range listeners {
			m.ListenedBy = append(m.ListenedBy, fmt.Sprintf("member%03d", j))
		}
		list.Messages = append(list.Messages, m)
	}
	return &pb.Response{Body: &pb.Response_Messages{Messages: list}}, list
}

func TestFitListingCutsToControlSize(t *testing.T) {
	for _, tt := range []struct{ n, listeners int }{{maxListLimit, 0}, {maxListLimit, 20}, {3, 5000}} {
		t.Run(fmt.Sprintf("%d messages, %d receipts each", tt.n, tt.listeners), func(t *testing.T) {
			resp, list := listing(tt.n, tt.listeners)
			fitListing(resp, list)

			if size := gproto.Size(resp); size > proto.MaxControlSize && len(list.Messages) > 1 {
				t.Errorf("got a response of %d bytes with %d messages, want at most %d bytes", size, len(list.Messages), proto.MaxControlSize)
			}
			if len(list.Messages) == tt.n {
				t.Errorf("kept all %d messages, want the listing cut", tt.n)
			}
			if !list.Truncated {
				t.Error("cut listing is not marked truncated")
			}
			if _, err := proto.AppendMessage(nil, resp); err != nil && len(list.Messages) > 1 {
				t.Errorf("encode the cut listing: %v", err)
			}
		})
	}
}

func TestFitListingKeepsSmallListing(t *testing.T) {
	resp, list := listing(10, 2)
	fitListing(resp, list)

	if len(list.Messages) != 10 {
		t.Errorf("got %d messages, want all 10", len(list.Messages))
	}
	if list.Truncated {
		t.Error("small listing marked truncated")
	}
	if !strings.HasPrefix(list.Messages[9].GetMessageId(), "01J") {
		t.Errorf("got last message %q, want the listing unchanged", list.Messages[9].GetMessageId())
	}
}
