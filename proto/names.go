package proto

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest handle or channel name.
const MaxNameLen = 32

// ValidName reports whether s is a valid handle or channel name: 1 to
// MaxNameLen characters of lowercase ASCII letters, digits, '-' and '_',
// starting with a letter or digit. The rule keeps names safe as NATS
// subject tokens, file names and S3 keys.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// CheckName returns a user-facing error when s is not a valid name; kind
// is "handle" or "channel".
func CheckName(kind, s string) error {
	if ValidName(s) {
		return nil
	}
	return fmt.Errorf("invalid %s %q: use 1 to %d lowercase letters, digits, '-' or '_', starting with a letter or digit",
		kind, s, MaxNameLen)
}

// Recipient is the target of a message: a user or a channel.
type Recipient struct {
	Channel bool
	Name    string
}

// String returns the recipient as a user types it: "@bob" or "#ops".
func (r Recipient) String() string {
	if r.Channel {
		return "#" + r.Name
	}
	return "@" + r.Name
}

// ParseRecipient parses "@handle" or "#channel".
func ParseRecipient(s string) (Recipient, error) {
	if len(s) < 2 || (s[0] != '@' && s[0] != '#') {
		return Recipient{}, fmt.Errorf("invalid recipient %q: use @handle for a user or #channel for a channel", s)
	}
	r := Recipient{Channel: s[0] == '#', Name: s[1:]}
	kind := "handle"
	if r.Channel {
		kind = "channel"
	}
	if err := CheckName(kind, r.Name); err != nil {
		return Recipient{}, err
	}
	return r, nil
}

// DirectConversation returns the conversation id of the direct
// conversation between two handles: "d." and both handles in sorted order.
func DirectConversation(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return "d." + a + "." + b
}

// ChannelConversation returns the conversation id of a channel.
func ChannelConversation(name string) string {
	return "c." + name
}

// ParseConversation checks a conversation id and returns the handles of a
// direct conversation, or the channel name of a channel conversation.
func ParseConversation(id string) (members []string, channel string, err error) {
	parts := strings.Split(id, ".")
	switch {
	case len(parts) == 2 && parts[0] == "c" && ValidName(parts[1]):
		return nil, parts[1], nil
	case len(parts) == 3 && parts[0] == "d" && ValidName(parts[1]) && ValidName(parts[2]) && parts[1] <= parts[2]:
		return parts[1:], "", nil
	}
	return nil, "", fmt.Errorf("invalid conversation id %q: %w", id, ErrMalformed)
}

// ConversationFor returns the conversation id that a message from sender
// to r belongs to.
func ConversationFor(sender string, r Recipient) string {
	if r.Channel {
		return ChannelConversation(r.Name)
	}
	return DirectConversation(sender, r.Name)
}

// DisplayConversation returns how a conversation id looks to handle me:
// "#ops" for a channel, "@peer" for a direct conversation.
func DisplayConversation(id, me string) string {
	members, channel, err := ParseConversation(id)
	switch {
	case err != nil:
		return id
	case channel != "":
		return "#" + channel
	case members[0] == me:
		return "@" + members[1]
	}
	return "@" + members[0]
}
