package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/vm-voice/vm/proto"
)

// Channel reads a channel record.
func (s *JetStreamStore) Channel(ctx context.Context, name string) (Channel, error) {
	var c Channel
	if _, err := getJSON(ctx, s.channels, name, &c); err != nil {
		return Channel{}, fmt.Errorf("get channel %s: %w", name, err)
	}
	return c, nil
}

// CreateChannel creates the channel record, then the memberships.
func (s *JetStreamStore) CreateChannel(ctx context.Context, c Channel) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode channel %s: %w", c.Name, err)
	}
	if _, err := s.channels.Create(ctx, c.Name, b); err != nil {
		if isConflict(err) {
			return fmt.Errorf("create channel %s: %w", c.Name, ErrExists)
		}
		return fmt.Errorf("create channel %s: %w", c.Name, err)
	}
	for _, m := range c.Members {
		if err := s.AddMembership(ctx, m, proto.ChannelConversation(c.Name)); err != nil {
			return err
		}
	}
	return nil
}

// JoinChannel adds handle to the member list with compare-and-set, then
// records the membership.
func (s *JetStreamStore) JoinChannel(ctx context.Context, name, handle string) (Channel, error) {
	c, err := s.updateChannel(ctx, name, func(c *Channel) error {
		if !c.HasMember(handle) {
			c.Members = append(c.Members, handle)
			slices.Sort(c.Members)
		}
		return nil
	})
	if err != nil {
		return Channel{}, fmt.Errorf("join channel %s: %w", name, err)
	}
	return c, s.AddMembership(ctx, handle, proto.ChannelConversation(name))
}

// LeaveChannel removes handle from the member list with compare-and-set,
// then removes the membership.
func (s *JetStreamStore) LeaveChannel(ctx context.Context, name, handle string) (Channel, error) {
	c, err := s.updateChannel(ctx, name, func(c *Channel) error {
		i := slices.Index(c.Members, handle)
		if i < 0 {
			return ErrNotMember
		}
		c.Members = slices.Delete(c.Members, i, i+1)
		return nil
	})
	if err != nil {
		return Channel{}, fmt.Errorf("leave channel %s: %w", name, err)
	}
	return c, s.removeMembership(ctx, handle, proto.ChannelConversation(name))
}

// updateChannel applies change to the stored channel and writes it back
// if nobody changed it meanwhile, retrying on a lost race.
func (s *JetStreamStore) updateChannel(ctx context.Context, name string, change func(*Channel) error) (Channel, error) {
	for range casAttempts {
		var c Channel
		rev, err := getJSON(ctx, s.channels, name, &c)
		if err != nil {
			return Channel{}, err
		}
		if err := change(&c); err != nil {
			return Channel{}, err
		}
		b, err := json.Marshal(c)
		if err != nil {
			return Channel{}, err
		}
		_, err = s.channels.Update(ctx, name, b, rev)
		if err == nil {
			return c, nil
		}
		if !isConflict(err) {
			return Channel{}, err
		}
	}
	return Channel{}, fmt.Errorf("update lost %d races in a row", casAttempts)
}
