package client

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// Login proves the identity key to the relay with a signature bound to
// this TLS session. The result reports whether the key has a handle yet, and
// carries the relay's message limits.
func (c *Conn) Login(ctx context.Context) (*pb.LoginResult, error) {
	cs := c.qc.ConnectionState().TLS
	exporter, err := cs.ExportKeyingMaterial(proto.ExporterLabel, nil, proto.ExporterLength)
	if err != nil {
		return nil, fmt.Errorf("login: export TLS keying material: %w", err)
	}
	msg := append([]byte(proto.LoginContext), exporter...)
	req := &pb.Request{Body: &pb.Request_Login{Login: &pb.Login{
		PublicKey:     c.id.Public(),
		Signature:     ed25519.Sign(c.id.Key, msg),
		ClientVersion: c.opts.ClientVersion,
	}}}
	resp, err := c.request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	res := resp.GetLogin()
	if res == nil {
		return nil, fmt.Errorf("login: %w: no login result", ErrBadResponse)
	}
	c.login = res
	return res, nil
}

// Register claims handle for the logged-in key. invite is the relay's
// invite token, or "" when registration is open.
func (c *Conn) Register(ctx context.Context, handle, invite string) (*pb.RegisterResult, error) {
	if err := proto.CheckName("handle", handle); err != nil {
		return nil, err
	}
	req := &pb.Request{Body: &pb.Request_Register{Register: &pb.Register{
		Handle: handle, InviteToken: invite,
	}}}
	resp, err := c.request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("register @%s: %w", handle, err)
	}
	res := resp.GetRegister()
	if res == nil {
		return nil, fmt.Errorf("register @%s: %w: no register result", handle, ErrBadResponse)
	}
	if c.login != nil {
		// The key now has a handle on this connection, as a new login
		// would report.
		c.login.Registered, c.login.Handle = true, res.GetHandle()
	}
	return res, nil
}

// CreateChannel creates channel name with the caller as owner and member.
func (c *Conn) CreateChannel(ctx context.Context, name string) (*pb.ChannelInfo, error) {
	return c.channelRequest(ctx, "create", name, &pb.Request{Body: &pb.Request_CreateChannel{
		CreateChannel: &pb.CreateChannel{Name: name}}})
}

// JoinChannel adds the caller to channel name.
func (c *Conn) JoinChannel(ctx context.Context, name string) (*pb.ChannelInfo, error) {
	return c.channelRequest(ctx, "join", name, &pb.Request{Body: &pb.Request_JoinChannel{
		JoinChannel: &pb.JoinChannel{Name: name}}})
}

// LeaveChannel removes the caller from channel name.
func (c *Conn) LeaveChannel(ctx context.Context, name string) error {
	if err := proto.CheckName("channel", name); err != nil {
		return err
	}
	req := &pb.Request{Body: &pb.Request_LeaveChannel{LeaveChannel: &pb.LeaveChannel{Name: name}}}
	if _, err := c.request(ctx, req); err != nil {
		return fmt.Errorf("leave #%s: %w", name, err)
	}
	return nil
}

// Members returns channel name with its members.
func (c *Conn) Members(ctx context.Context, name string) (*pb.ChannelInfo, error) {
	return c.channelRequest(ctx, "list members of", name, &pb.Request{Body: &pb.Request_ListMembers{
		ListMembers: &pb.ListMembers{Name: name}}})
}

// channelRequest sends a channel request that the relay responds to with
// ChannelInfo.
func (c *Conn) channelRequest(ctx context.Context, verb, name string, req *pb.Request) (*pb.ChannelInfo, error) {
	if err := proto.CheckName("channel", name); err != nil {
		return nil, err
	}
	resp, err := c.request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s #%s: %w", verb, name, err)
	}
	info := resp.GetChannel()
	if info == nil {
		return nil, fmt.Errorf("%s #%s: %w: no channel info", verb, name, ErrBadResponse)
	}
	return info, nil
}

// ListConversations returns the caller's direct conversations and
// channels.
func (c *Conn) ListConversations(ctx context.Context) ([]*pb.Conversation, error) {
	req := &pb.Request{Body: &pb.Request_ListConversations{ListConversations: &pb.ListConversations{}}}
	resp, err := c.request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	list := resp.GetConversations()
	if list == nil {
		return nil, fmt.Errorf("list conversations: %w: no conversation list", ErrBadResponse)
	}
	return list.GetConversations(), nil
}

// ListOptions selects the messages that List returns.
type ListOptions struct {
	// Conversation is a conversation id such as "c.ops"; "" lists all of
	// the caller's conversations.
	Conversation string
	// Since lists messages created at or after this time; the zero time
	// lists messages after the caller's delivery cursor.
	Since time.Time
	// All lists every stored message regardless of the delivery cursor.
	All bool
	// Limit is the max number of messages in one response; 0 lets the
	// relay choose.
	Limit uint32
}

// List returns stored messages visible to the caller. MessageList.truncated
// is true when more messages match than the response contains.
func (c *Conn) List(ctx context.Context, opt ListOptions) (*pb.MessageList, error) {
	lm := &pb.ListMessages{Conversation: opt.Conversation, All: opt.All, Limit: opt.Limit}
	if !opt.Since.IsZero() {
		lm.SinceUnixMs = opt.Since.UnixMilli()
	}
	resp, err := c.request(ctx, &pb.Request{Body: &pb.Request_ListMessages{ListMessages: lm}})
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	list := resp.GetMessages()
	if list == nil {
		return nil, fmt.Errorf("list messages: %w: no message list", ErrBadResponse)
	}
	return list, nil
}

// AckDelivery moves the caller's delivery cursor of conversation forward
// to seq.
func (c *Conn) AckDelivery(ctx context.Context, conversation string, seq uint64) error {
	req := &pb.Request{Body: &pb.Request_AckDelivery{AckDelivery: &pb.AckDelivery{
		Conversation: conversation, Seq: seq,
	}}}
	if _, err := c.request(ctx, req); err != nil {
		return fmt.Errorf("acknowledge delivery in %s up to %d: %w", conversation, seq, err)
	}
	return nil
}

// Ping measures the round-trip time of one request.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	req := &pb.Request{Body: &pb.Request_Ping{Ping: &pb.Ping{ClientUnixNanos: start.UnixNano()}}}
	resp, err := c.request(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	if resp.GetPong() == nil {
		return 0, fmt.Errorf("ping: %w: no pong", ErrBadResponse)
	}
	return time.Since(start), nil
}
