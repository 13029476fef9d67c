package client

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto/pb"
)

func TestMessagePath(t *testing.T) {
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC).UnixMilli()
	tests := []struct {
		name string
		info *pb.MessageInfo
		want string
	}{
		{
			name: "direct",
			info: &pb.MessageInfo{Conversation: "d.alice.bob", Sender: "bob", MessageId: idA, CreatedUnixMs: created},
			want: "out/bob/20250304T050607Z-bob-" + idA + ".ogg",
		},
		{
			name: "own message in direct",
			info: &pb.MessageInfo{Conversation: "d.alice.bob", Sender: "alice", MessageId: idA, CreatedUnixMs: created},
			want: "out/bob/20250304T050607Z-alice-" + idA + ".ogg",
		},
		{
			name: "channel",
			info: &pb.MessageInfo{Conversation: "c.ops", Sender: "carol", MessageId: idB, CreatedUnixMs: created},
			want: "out/ops/20250304T050607Z-carol-" + idB + ".ogg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessagePath("out", "alice", tt.info, "ogg")
			if err != nil {
				t.Fatalf("MessagePath: %v", err)
			}
			if got != filepath.FromSlash(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMessagePathRejectsHostile(t *testing.T) {
	tests := []struct {
		name string
		info *pb.MessageInfo
	}{
		{name: "traversal in conversation", info: &pb.MessageInfo{Conversation: "c.../x", Sender: "bob", MessageId: idA}},
		{name: "traversal in sender", info: &pb.MessageInfo{Conversation: "c.ops", Sender: "../bob", MessageId: idA}},
		{name: "slash in id", info: &pb.MessageInfo{Conversation: "c.ops", Sender: "bob", MessageId: "01JAAAAAAAAAAAAAAAAAAA/../"}},
		{name: "empty", info: &pb.MessageInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MessagePath("out", "alice", tt.info, "ogg")
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("got %v, want ErrBadResponse", err)
			}
		})
	}
}
