package meta

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// User reads a user record, from the cache when it was read before.
func (s *JetStreamStore) User(ctx context.Context, handle string) (User, error) {
	if u, ok := s.userCache.Load(handle); ok {
		return u.(User), nil
	}
	var u User
	if _, err := getJSON(ctx, s.users, handle, &u); err != nil {
		return User{}, fmt.Errorf("get user %s: %w", handle, err)
	}
	s.userCache.Store(handle, u)
	return u, nil
}

// HandleForKey looks up the key in the keys bucket.
func (s *JetStreamStore) HandleForKey(ctx context.Context, publicKey []byte) (string, error) {
	e, err := s.keys.Get(ctx, hex.EncodeToString(publicKey))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("get key: %w", err)
	}
	return string(e.Value()), nil
}

// CreateUser creates the user record, then the key record. When the key
// turns out to be taken, it deletes the user record again.
func (s *JetStreamStore) CreateUser(ctx context.Context, u User) error {
	b, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user %s: %w", u.Handle, err)
	}
	if _, err := s.users.Create(ctx, u.Handle, b); err != nil {
		if isConflict(err) {
			return fmt.Errorf("create user %s: handle %w", u.Handle, ErrExists)
		}
		return fmt.Errorf("create user %s: %w", u.Handle, err)
	}
	_, err = s.keys.Create(ctx, hex.EncodeToString(u.PublicKey), []byte(u.Handle))
	if err == nil {
		return nil
	}
	// Another handle won the key; remove the user record so the handle
	// is free again.
	if derr := s.users.Purge(ctx, u.Handle); derr != nil {
		err = errors.Join(err, derr)
	}
	if isConflict(err) {
		return fmt.Errorf("create user %s: key %w", u.Handle, ErrExists)
	}
	return fmt.Errorf("create user %s: %w", u.Handle, err)
}

// AddMembership creates the membership key unless it exists.
func (s *JetStreamStore) AddMembership(ctx context.Context, handle, conv string) error {
	key := handle + "." + conv
	if _, ok := s.memberCache.Load(key); ok {
		return nil
	}
	_, err := s.memberships.Create(ctx, key, []byte(time.Now().UTC().Format(time.RFC3339)))
	if err != nil && !isConflict(err) {
		return fmt.Errorf("add membership %s: %w", key, err)
	}
	s.memberCache.Store(key, true)
	return nil
}

func (s *JetStreamStore) removeMembership(ctx context.Context, handle, conv string) error {
	key := handle + "." + conv
	s.memberCache.Delete(key)
	if err := s.memberships.Purge(ctx, key); err != nil {
		return fmt.Errorf("remove membership %s: %w", key, err)
	}
	return nil
}

// Conversations lists the membership keys under "<handle>.".
func (s *JetStreamStore) Conversations(ctx context.Context, handle string) ([]string, error) {
	lister, err := s.memberships.ListKeysFiltered(ctx, handle+".>")
	if err != nil {
		return nil, fmt.Errorf("list conversations of %s: %w", handle, err)
	}
	var convs []string
	for key := range lister.Keys() {
		convs = append(convs, strings.TrimPrefix(key, handle+"."))
	}
	return convs, nil
}
