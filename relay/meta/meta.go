// Package meta stores the relay's metadata: users and their identity keys,
// channels and their members, each user's conversations, message metadata
// and per-recipient delivery cursors.
//
// Store is the interface the relay uses. JetStreamStore implements it on
// NATS JetStream, and StartEmbedded runs an in-process NATS server for it,
// so a relay needs nothing else installed. OpenJetStream takes any NATS
// connection, so a deployment can point it at an external cluster.
//
// # Layout in JetStream
//
//	KV "users"        handle -> JSON User (public key, creation time)
//	KV "keys"         hex public key -> handle
//	KV "channels"     name -> JSON Channel (owner, members, creation time),
//	                  updated with compare-and-set on the revision
//	KV "memberships"  "<handle>.<conversation>" -> join time (RFC 3339),
//	                  listing a user's conversations; direct conversations
//	                  are added for both users on their first message
//	KV "cursors"      "<handle>.<conversation>" -> last acknowledged stream
//	                  sequence, decimal; it only moves forward
//	KV "receipts"     message id -> JSON map of listener handle to the time
//	                  it first played the message, updated with
//	                  compare-and-set on the revision
//	KV "relay"        "store_id" -> random id of this metadata store, 16
//	                  hex digits; the relay puts every blob key it makes
//	                  under it
//	stream MESSAGES   subject "msg.<conversation>.<message id>", data a
//	                  protobuf pb.MessageInfo, Nats-Msg-Id the message id,
//	                  duplicate window 10 minutes
//
// A conversation id contains dots ("c.ops", "d.alice.bob"), so it spans
// several subject tokens; the message id is always the last token, and the
// token counts of channel and direct subjects differ, so "msg.c.ops.*"
// matches exactly the messages of #ops.
//
// Every stream, key-value buckets included, is a file stream; with the
// embedded server's sync_always setting a publish is acknowledged only
// after it is fsynced.
package meta

import (
	"context"
	"errors"
	"time"

	"github.com/vm-voice/vm/proto/pb"
)

// ErrNotFound is returned when a user, channel or message does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when creating a user, key or channel that exists.
var ErrExists = errors.New("already exists")

// ErrNotMember is returned when leaving a channel one is not a member of.
var ErrNotMember = errors.New("not a member")

// User is a registered handle and its Ed25519 identity key.
type User struct {
	Handle    string    `json:"handle"`
	PublicKey []byte    `json:"public_key"`
	Created   time.Time `json:"created"`
}

// Channel is a named group conversation.
type Channel struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Members []string  `json:"members"`
	Created time.Time `json:"created"`
}

// HasMember reports whether handle is a member of c.
func (c *Channel) HasMember(handle string) bool {
	for _, m := range c.Members {
		if m == handle {
			return true
		}
	}
	return false
}

// Query selects stored messages of one conversation: those with a stream
// sequence above AfterSeq and, when Since is set, stored at or after
// Since, in sequence order, at most Limit of them.
type Query struct {
	Conversation string
	AfterSeq     uint64
	Since        time.Time
	Limit        int
}

// Store is the relay's metadata store. Every method is safe for
// concurrent use and blocks until the store has replied.
type Store interface {
	// User returns the user registered under handle, or ErrNotFound.
	User(ctx context.Context, handle string) (User, error)
	// HandleForKey returns the handle registered to an identity key, or
	// ErrNotFound.
	HandleForKey(ctx context.Context, publicKey []byte) (string, error)
	// CreateUser registers u. It returns an error wrapping ErrExists when
	// the handle or the key is registered already.
	CreateUser(ctx context.Context, u User) error

	// Channel returns the channel called name, or ErrNotFound.
	Channel(ctx context.Context, name string) (Channel, error)
	// CreateChannel stores c and makes its members members of the
	// channel's conversation; ErrExists when the name is taken.
	CreateChannel(ctx context.Context, c Channel) error
	// JoinChannel adds handle to a channel's members; joining twice is
	// not an error.
	JoinChannel(ctx context.Context, name, handle string) (Channel, error)
	// LeaveChannel removes handle from a channel's members, or returns
	// ErrNotMember.
	LeaveChannel(ctx context.Context, name, handle string) (Channel, error)

	// AddMembership records that handle takes part in a conversation.
	AddMembership(ctx context.Context, handle, conv string) error
	// Conversations lists the conversation ids handle takes part in.
	Conversations(ctx context.Context, handle string) ([]string, error)

	// FindMessage returns the stored metadata of message id in conv, or
	// ErrNotFound.
	FindMessage(ctx context.Context, conv, id string) (*pb.MessageInfo, error)
	// PutMessage stores m durably and returns it with its sequence set.
	// When a message with the same id is stored already (in any
	// conversation), it stores nothing and returns the stored one with
	// duplicate true.
	PutMessage(ctx context.Context, m *pb.MessageInfo) (stored *pb.MessageInfo, duplicate bool, err error)
	// MessageAt returns the message with stream sequence seq if it
	// belongs to conv, or ErrNotFound.
	MessageAt(ctx context.Context, conv string, seq uint64) (*pb.MessageInfo, error)
	// Messages lists the messages q selects; more is true when the limit
	// cut the list short.
	Messages(ctx context.Context, q Query) (msgs []*pb.MessageInfo, more bool, err error)
	// LastSeq returns the sequence of the newest message in conv, or 0.
	LastSeq(ctx context.Context, conv string) (uint64, error)
	// ScanMessages returns up to limit messages of all conversations
	// with a stream sequence above afterSeq, in sequence order. An empty
	// result means there are no more.
	ScanMessages(ctx context.Context, afterSeq uint64, limit int) ([]*pb.MessageInfo, error)
	// DeleteMessage removes the message with stream sequence seq, so no
	// listing or lookup returns it again; ErrNotFound when there is none.
	DeleteMessage(ctx context.Context, seq uint64) error

	// Cursor returns handle's delivery cursor in conv: the sequence of the
	// last message it acknowledged, or 0.
	Cursor(ctx context.Context, handle, conv string) (uint64, error)
	// AdvanceCursor moves the cursor to seq unless it is there or beyond
	// already, and returns the cursor's new value.
	AdvanceCursor(ctx context.Context, handle, conv string, seq uint64) (uint64, error)

	// MarkListened records that handle played message id at time at.
	// It returns first=false, storing nothing, when handle played the
	// message before.
	MarkListened(ctx context.Context, id, handle string, at time.Time) (first bool, err error)
	// Receipts returns the listeners of message id and when each played
	// it. The map is empty when the message has no listener yet.
	Receipts(ctx context.Context, id string) (Receipts, error)

	// StoreID returns the random id of this metadata store, the same
	// for every relay that shares it. It creates the id on the first call
	// against a new store.
	StoreID(ctx context.Context) (string, error)

	// Check reports whether the store serves requests now.
	Check(ctx context.Context) error
}
