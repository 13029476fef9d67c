package relay

import (
	"context"
	"errors"

	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/meta"
)

func channelResponse(c meta.Channel) *pb.Response {
	return &pb.Response{Body: &pb.Response_Channel{Channel: &pb.ChannelInfo{
		Name:          c.Name,
		Owner:         c.Owner,
		Members:       c.Members,
		CreatedUnixMs: c.Created.UnixMilli(),
	}}}
}

func checkChannelName(name string) error {
	if err := proto.CheckName("channel", name); err != nil {
		return errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "%v", err)
	}
	return nil
}

// channelError turns a store error about channel name into a protocol
// error.
func channelError(name string, err error) error {
	switch {
	case errors.Is(err, meta.ErrNotFound):
		return errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "channel #%s not found: create it with vm channel create %s", name, name)
	case errors.Is(err, meta.ErrExists):
		return errorf(pb.ErrorCode_ERROR_CODE_ALREADY_EXISTS, "channel #%s already exists: join it with vm channel join %s", name, name)
	case errors.Is(err, meta.ErrNotMember):
		return errorf(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "you are not a member of #%s", name)
	}
	return unavailable("update channel #"+name, err)
}

// handleCreateChannel creates a channel owned by me, with me as its only
// member.
func (ss *session) handleCreateChannel(ctx context.Context, me string, r *pb.CreateChannel) (*pb.Response, error) {
	if err := checkChannelName(r.Name); err != nil {
		return nil, err
	}
	c := meta.Channel{Name: r.Name, Owner: me, Members: []string{me}, Created: ss.s.now().UTC()}
	if err := ss.s.meta.CreateChannel(ctx, c); err != nil {
		return nil, channelError(r.Name, err)
	}
	ss.logger().Info("channel created", "conv", proto.ChannelConversation(r.Name))
	return channelResponse(c), nil
}

func (ss *session) handleJoinChannel(ctx context.Context, me string, r *pb.JoinChannel) (*pb.Response, error) {
	if err := checkChannelName(r.Name); err != nil {
		return nil, err
	}
	c, err := ss.s.meta.JoinChannel(ctx, r.Name, me)
	if err != nil {
		return nil, channelError(r.Name, err)
	}
	ss.s.hub.joined(proto.ChannelConversation(r.Name), me, c.Members)
	return channelResponse(c), nil
}

func (ss *session) handleLeaveChannel(ctx context.Context, me string, r *pb.LeaveChannel) (*pb.Response, error) {
	if err := checkChannelName(r.Name); err != nil {
		return nil, err
	}
	c, err := ss.s.meta.LeaveChannel(ctx, r.Name, me)
	if err != nil {
		return nil, channelError(r.Name, err)
	}
	ss.s.hub.left(proto.ChannelConversation(r.Name), me)
	return channelResponse(c), nil
}

// handleListMembers returns a channel's record to its members. Any
// registered user may join a channel, but who is in it stays between its
// members.
func (ss *session) handleListMembers(ctx context.Context, me string, r *pb.ListMembers) (*pb.Response, error) {
	if err := checkChannelName(r.Name); err != nil {
		return nil, err
	}
	c, err := ss.s.meta.Channel(ctx, r.Name)
	if err != nil {
		return nil, channelError(r.Name, err)
	}
	if !c.HasMember(me) {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_FORBIDDEN,
			"not a member of #%s: join it first (vm channel join %s) to list its members", r.Name, r.Name)
	}
	return channelResponse(c), nil
}

// checkPeerExists returns a NOT_FOUND error when the other member of a
// direct conversation has no handle on the relay, so that a misspelt
// name fails instead of listing an empty conversation.
func (ss *session) checkPeerExists(ctx context.Context, me string, members []string) error {
	peer := members[0]
	if peer == me {
		peer = members[1]
	}
	_, err := ss.s.meta.User(ctx, peer)
	if errors.Is(err, meta.ErrNotFound) {
		return errorf(pb.ErrorCode_ERROR_CODE_NOT_FOUND, "unknown user @%s: no such handle on this relay; check the spelling", peer)
	}
	if err != nil {
		return unavailable("look up user", err)
	}
	return nil
}

// checkAccess returns nil when me may read conv: a direct conversation
// that names me, or a channel I am a member of.
func (ss *session) checkAccess(ctx context.Context, me, conv string) error {
	members, channel, err := proto.ParseConversation(conv)
	if err != nil {
		return errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "invalid conversation id %q: use the id a conversation list returns", conv)
	}
	if channel == "" {
		if members[0] != me && members[1] != me {
			return errorf(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "conversation %s is not yours", conv)
		}
		return ss.checkPeerExists(ctx, me, members)
	}
	c, err := ss.s.meta.Channel(ctx, channel)
	if err != nil {
		return channelError(channel, err)
	}
	if !c.HasMember(me) {
		return errorf(pb.ErrorCode_ERROR_CODE_FORBIDDEN, "you are not a member of #%s: join it with vm channel join %s", channel, channel)
	}
	return nil
}
