package meta

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/vm-voice/vm/proto/pb"
)

func TestScanAndDeleteMessages(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ids := []string{"01AAAAAAAAAAAAAAAAAAAAAAB1", "01AAAAAAAAAAAAAAAAAAAAAAB2", "01AAAAAAAAAAAAAAAAAAAAAAB3", "01AAAAAAAAAAAAAAAAAAAAAAB4"}
	convs := []string{"c.ops", "d.alice.bob", "c.ops", "d.alice.carol"}
	var seqs []uint64
	for i, id := range ids {
		m, _, err := s.PutMessage(ctx, &pb.MessageInfo{MessageId: id, Conversation: convs[i], Sender: "alice"})
		if err != nil {
			t.Fatalf("PutMessage %s: %v", id, err)
		}
		seqs = append(seqs, m.Seq)
	}
	if err := s.DeleteMessage(ctx, seqs[1]); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if err := s.DeleteMessage(ctx, seqs[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteMessage: got %v, want ErrNotFound", err)
	}
	if _, err := s.FindMessage(ctx, convs[1], ids[1]); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindMessage of deleted message: got %v, want ErrNotFound", err)
	}

	tests := []struct {
		name  string
		after uint64
		limit int
		want  []string
	}{
		{"all", 0, 10, []string{ids[0], ids[2], ids[3]}},
		{"limited", 0, 2, []string{ids[0], ids[2]}},
		{"after", seqs[2], 10, []string{ids[3]}},
		{"past the end", seqs[3], 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := s.ScanMessages(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("ScanMessages: %v", err)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, m.MessageId)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
