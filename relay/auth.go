package relay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"github.com/vm-voice/vm/relay/meta"
)

// handleLogin checks that the client signed LoginContext and this
// connection's TLS exporter value with the key it presents, and looks up
// the key's handle.
func (ss *session) handleLogin(ctx context.Context, l *pb.Login) (*pb.Response, error) {
	if len(l.PublicKey) != ed25519.PublicKeySize || len(l.Signature) != ed25519.SignatureSize {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED,
			"invalid login: want a %d-byte Ed25519 public key and a %d-byte signature",
			ed25519.PublicKeySize, ed25519.SignatureSize)
	}
	tlsState := ss.conn.ConnectionState().TLS
	exported, err := tlsState.ExportKeyingMaterial(proto.ExporterLabel, nil, proto.ExporterLength)
	if err != nil {
		return nil, fmt.Errorf("export TLS keying material: %w", err)
	}
	msg := append([]byte(proto.LoginContext), exported...)
	if !ed25519.Verify(l.PublicKey, msg, l.Signature) {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED,
			"invalid login signature: sign the login context and this connection's TLS exporter value")
	}
	ss.publicKey = l.PublicKey
	handle, err := ss.s.meta.HandleForKey(ctx, l.PublicKey)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, unavailable("look up identity key", err)
	}
	if handle != "" {
		ss.setHandle(handle)
	}
	// The session's logger carries peer once the handle is known.
	ss.logger().Info("login", "registered", handle != "", "client_version", l.ClientVersion)
	return &pb.Response{Body: &pb.Response_Login{Login: &pb.LoginResult{
		Registered:      handle != "",
		Handle:          handle,
		RelayVersion:    Version,
		MaxMessageMs:    uint32(ss.s.cfg.MaxMessageDuration.Milliseconds()),
		MaxMessageBytes: uint32(ss.s.cfg.MaxMessageBytes),
	}}}, nil
}

func (ss *session) setHandle(h string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.handle = h
	ss.log = ss.log.With("peer", h)
}

// handleRegister claims a handle for the logged-in key, as the relay's
// registration mode allows. Registering the handle the key has already
// succeeds again, so a client may retry.
func (ss *session) handleRegister(ctx context.Context, r *pb.Register) (*pb.Response, error) {
	if err := proto.CheckName("handle", r.Handle); err != nil {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "%v", err)
	}
	if have, _ := ss.registered(); have != "" {
		if have == r.Handle {
			return registerResult(have), nil
		}
		return nil, errorf(pb.ErrorCode_ERROR_CODE_ALREADY_EXISTS,
			"this key is already registered as @%s; use a new identity (vm init) for another handle", have)
	}
	if err := ss.checkHandleFree(ctx, r.Handle); err != nil {
		return nil, err
	}
	redeemed, err := ss.admit(r.InviteToken)
	if err != nil {
		return nil, err
	}
	err = ss.s.meta.CreateUser(ctx, meta.User{Handle: r.Handle, PublicKey: ss.publicKey, Created: ss.s.now().UTC()})
	if err != nil {
		if redeemed != "" {
			ss.s.invites.restore(redeemed)
		}
		return nil, registerError(r.Handle, err)
	}
	ss.setHandle(r.Handle)
	ss.logger().Info("registered")
	return registerResult(r.Handle), nil
}

func registerResult(handle string) *pb.Response {
	return &pb.Response{Body: &pb.Response_Register{Register: &pb.RegisterResult{Handle: handle}}}
}

func (ss *session) checkHandleFree(ctx context.Context, handle string) error {
	_, err := ss.s.meta.User(ctx, handle)
	switch {
	case err == nil:
		return errorf(pb.ErrorCode_ERROR_CODE_HANDLE_TAKEN, "handle @%s is taken: choose another", handle)
	case !errors.Is(err, meta.ErrNotFound):
		return unavailable("look up handle", err)
	}
	return nil
}

// admit applies the registration mode. In invite mode it redeems the
// token and returns it, so a registration that fails later can restore it.
func (ss *session) admit(token string) (redeemed string, err error) {
	switch ss.s.cfg.Registration {
	case RegistrationClosed:
		return "", errorf(pb.ErrorCode_ERROR_CODE_REGISTRATION_CLOSED,
			"registration is closed on this relay: ask its operator to create your account")
	case RegistrationInvite:
		if token == "" {
			return "", errorf(pb.ErrorCode_ERROR_CODE_INVALID_INVITE,
				"this relay needs an invite token to register: ask its operator for one (relay invite)")
		}
		if err := ss.s.invites.redeem(token); err != nil {
			return "", err
		}
		return token, nil
	}
	return "", nil
}

func registerError(handle string, err error) error {
	if errors.Is(err, meta.ErrExists) {
		return errorf(pb.ErrorCode_ERROR_CODE_HANDLE_TAKEN, "handle @%s or this key was registered meanwhile: %v", handle, err)
	}
	return unavailable("register handle", err)
}

// unavailable wraps a storage error as the error a client sees when the
// relay cannot reach its stores. The cause stays in the relay's log.
func unavailable(what string, err error) error {
	return &Error{
		Code:  pb.ErrorCode_ERROR_CODE_UNAVAILABLE,
		Msg:   what + ": relay storage unavailable; try again later",
		cause: err,
	}
}
