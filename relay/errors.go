package relay

import (
	"errors"
	"fmt"

	"github.com/vm-voice/vm/proto/pb"
)

// Error is a protocol error: the code and message a client receives in
// pb.Error, and for the log the cause the client does not see.
type Error struct {
	Code  pb.ErrorCode
	Msg   string
	cause error
	// attrs are key-value pairs, such as msg_id and conv, that the log
	// line of the failed request carries.
	attrs []any
	// fault marks an error that the relay's stores caused although its
	// code is not INTERNAL or UNAVAILABLE, such as a missing blob, so
	// the request is logged at error level.
	fault bool
}

func (e *Error) Error() string {
	if e.cause != nil {
		return e.Msg + ": " + e.cause.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error {
	return e.cause
}

// errorf returns a protocol error with a formatted message.
func errorf(code pb.ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// toProto converts err to the pb.Error a client receives. Errors that are
// not protocol errors are internal and reach the client without detail.
func toProto(err error) *pb.Error {
	var e *Error
	if errors.As(err, &e) {
		return &pb.Error{Code: e.Code, Message: e.Msg}
	}
	return &pb.Error{Code: pb.ErrorCode_ERROR_CODE_INTERNAL, Message: "internal relay error; try again later"}
}

// QUIC application error codes the relay closes connections and streams
// with.
const (
	codeOK          = 0x0
	codeLoginFailed = 0x10
	codeShutdown    = 0x11
	codeProtocol    = 0x12
	// codeTooManyConnections closes a connection over the relay's
	// connection limit.
	codeTooManyConnections = 0x13
	codeStreamRejected     = 0x20
)
