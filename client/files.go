package client

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// MessagePath returns where vm fetch writes a message for user me:
// dir/PEER/TIME-SENDER-ID.EXT for a direct conversation with PEER, or
// dir/CHANNEL/TIME-SENDER-ID.EXT for a channel, with TIME the creation
// time in UTC as 20060102T150405Z. Every part comes from the relay, so
// each one is checked to be a valid name or id before it becomes part of
// a path.
func MessagePath(dir, me string, info *pb.MessageInfo, ext string) (string, error) {
	conv := info.GetConversation()
	if _, _, err := proto.ParseConversation(conv); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	if !proto.ValidName(info.GetSender()) {
		return "", fmt.Errorf("%w: invalid sender %q", ErrBadResponse, info.GetSender())
	}
	id, err := ulid.ParseStrict(info.GetMessageId())
	if err != nil || id.String() != info.GetMessageId() {
		return "", fmt.Errorf("%w: invalid message id %q", ErrBadResponse, info.GetMessageId())
	}
	peer := strings.TrimLeft(proto.DisplayConversation(conv, me), "@#")
	created := time.UnixMilli(info.GetCreatedUnixMs()).UTC().Format("20060102T150405Z")
	name := created + "-" + info.GetSender() + "-" + id.String() + "." + ext
	return filepath.Join(dir, peer, name), nil
}
