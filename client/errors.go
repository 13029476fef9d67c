package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

// ErrTimeout is returned when the relay does not respond to a request
// within Options.RequestTimeout.
var ErrTimeout = errors.New("request to relay timed out")

// ErrBadResponse is returned when the relay's response does not fit the
// request: a missing body, a blob above the size limit, or a blob that is
// not valid Ogg Opus.
var ErrBadResponse = errors.New("invalid response from relay")

// ErrTooLong is returned by Conn.Send when a message is longer than the
// relay's limit.
var ErrTooLong = errors.New("message too long")

// RemoteError is a protocol error that the relay returned.
type RemoteError struct {
	Code    pb.ErrorCode
	Message string
}

func (e *RemoteError) Error() string {
	code := strings.ToLower(strings.TrimPrefix(e.Code.String(), "ERROR_CODE_"))
	if e.Message == "" {
		return "relay returned " + code
	}
	return fmt.Sprintf("relay returned %s: %s", code, e.Message)
}

// IsCode reports whether err is a RemoteError with the given code.
func IsCode(err error, code pb.ErrorCode) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.Code == code
}

// IsTransient reports whether a request that failed with err may succeed
// when repeated: the relay was unreachable, the connection or stream broke
// before the response, the relay did not respond in time, or it returned
// ERROR_CODE_UNAVAILABLE or ERROR_CODE_RATE_LIMITED. A changed relay key,
// a TLS failure and every other relay error are permanent. A cancelled
// context is not transient, but the expiry of a per-request timeout is.
func IsTransient(err error) bool {
	var (
		remote   *RemoteError
		changed  *KeyChangedError
		trans    *quic.TransportError
		netErr   net.Error
		dnsError *net.DNSError
	)
	switch {
	case err == nil, errors.As(err, &changed), errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &remote):
		return remote.Code == pb.ErrorCode_ERROR_CODE_UNAVAILABLE ||
			remote.Code == pb.ErrorCode_ERROR_CODE_RATE_LIMITED
	case errors.As(err, &trans):
		return !trans.ErrorCode.IsCryptoError()
	case errors.As(err, &dnsError):
		return dnsError.IsTemporary || dnsError.IsTimeout
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return true
	case isConnectionLost(err):
		return true
	case errors.As(err, &netErr):
		return netErr.Timeout()
	}
	return false
}

// isConnectionLost reports whether err means the connection or the stream
// ended before the relay's response arrived.
func isConnectionLost(err error) bool {
	var (
		idle   *quic.IdleTimeoutError
		hs     *quic.HandshakeTimeoutError
		reset  *quic.StatelessResetError
		app    *quic.ApplicationError
		stream *quic.StreamError
	)
	return errors.As(err, &idle) || errors.As(err, &hs) || errors.As(err, &reset) ||
		errors.As(err, &app) || errors.As(err, &stream) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, proto.ErrTruncated) || errors.Is(err, net.ErrClosed)
}
