package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// session is one client connection.
type session struct {
	s       *Server
	conn    *quic.Conn
	limiter *rate.Limiter
	// limited logs the requests that limiter rejects.
	limited repeatLog

	// publicKey is the Ed25519 key that logged in. Login sets it once,
	// before any other request runs.
	publicKey []byte

	// mu guards handle and log.
	mu sync.Mutex
	// handle is the registered handle of publicKey, "" until registered.
	handle string
	// log carries the peer's address, and its handle once known.
	log *slog.Logger
	// sub is the connection's event feed, nil until Subscribe.
	sub *subscriber

	// soft is done when the relay stops taking requests; event feeds
	// end then, as they never finish on their own.
	soft context.Context

	// liveMu guards live.
	liveMu sync.Mutex
	// live maps the live handles of the connection's live uploads to
	// their transmissions.
	live map[uint16]*transmission
}

func (ss *session) logger() *slog.Logger {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.log
}

func newSession(s *Server, conn *quic.Conn) *session {
	return &session{
		s:       s,
		conn:    conn,
		log:     s.log.With("remote_addr", conn.RemoteAddr().String()),
		limiter: rate.NewLimiter(requestRate, requestBurst),
		soft:    context.Background(),
		live:    map[uint16]*transmission{},
	}
}

// run logs the client in, then serves its request streams and takes its
// datagrams until ctx is done or the connection ends. Requests in
// progress run until they finish or hard is done; event feeds end with
// ctx.
func (ss *session) run(ctx, hard context.Context) {
	ss.soft = ctx
	ss.s.metrics.connections.Inc()
	defer ss.s.metrics.connections.Dec()
	if err := ss.login(hard); err != nil {
		ss.logger().Info("login failed", "err", err)
		ss.closeAfterGrace(hard, codeLoginFailed, "login failed")
		return
	}
	ss.logger().Debug("session started")

	dctx, stopDatagrams := context.WithCancel(hard)
	datagramsDone := make(chan struct{})
	go func() {
		defer close(datagramsDone)
		ss.readDatagrams(dctx)
	}()
	g, gctx := errgroup.WithContext(hard)
	for {
		str, err := ss.conn.AcceptStream(ctx)
		if err != nil {
			break
		}
		g.Go(func() error {
			ss.serveStream(gctx, str)
			return nil
		})
	}
	g.Wait()
	stopDatagrams()
	<-datagramsDone
	if n := ss.limited.flush(); n > 0 {
		ss.logger().Info("requests rate limited", "count", n, "rate", requestRate)
	}
	if ctx.Err() != nil {
		ss.conn.CloseWithError(codeShutdown, "relay shutting down")
	} else {
		ss.conn.CloseWithError(codeOK, "")
	}
	ss.logger().Debug("session ended")
}

// closeAfterGrace closes the connection once the client has closed it or
// loginGrace has passed, so the client can read the error response that
// an immediate close would discard.
func (ss *session) closeAfterGrace(ctx context.Context, code quic.ApplicationErrorCode, msg string) {
	timer := time.NewTimer(loginGrace)
	defer timer.Stop()
	select {
	case <-ss.conn.Context().Done():
	case <-ctx.Done():
	case <-timer.C:
	}
	ss.conn.CloseWithError(code, msg)
}

// login reads the first stream's Login request under loginTimeout and
// checks its signature.
func (ss *session) login(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	str, err := ss.conn.AcceptStream(ctx)
	if err != nil {
		return fmt.Errorf("accept login stream: %w", err)
	}
	defer str.CancelRead(codeOK)
	str.SetDeadline(time.Now().Add(loginTimeout))
	var req pb.Request
	if err := proto.ReadMessage(bufio.NewReader(str), &req); err != nil {
		str.CancelWrite(codeProtocol)
		return err
	}
	login := req.GetLogin()
	var res *pb.Response
	if login == nil {
		err = errorf(pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED, "the first request on a connection must be Login")
	} else {
		res, err = ss.handleLogin(ctx, login)
	}
	ss.reply(str, res, err)
	return err
}

// serveStream reads one request and dispatches it.
func (ss *session) serveStream(ctx context.Context, str *quic.Stream) {
	defer str.CancelRead(codeOK)
	if !ss.limiter.Allow() {
		ss.rejectRateLimited(str)
		return
	}
	str.SetReadDeadline(time.Now().Add(requestTimeout))
	sr := &stallReader{str: str}
	r := bufio.NewReaderSize(sr, 4096)
	var req pb.Request
	if err := proto.ReadMessage(r, &req); err != nil {
		ss.reply(str, nil, errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "invalid request: %v", err))
		return
	}
	if writesStore(&req) {
		if err := ss.s.checkSpace(); err != nil {
			if up := req.GetUpload(); up != nil {
				err = withIDs(err, up.GetMessageId(), up.GetTo())
			}
			ss.reply(str, nil, err)
			return
		}
	}
	if up := req.GetUpload(); up != nil {
		sr.gap, sr.end = uploadGap, time.Now().Add(ss.s.cfg.MaxMessageDuration+requestTimeout)
		ss.handleUpload(ctx, sr, r, up)
		return
	}
	if f := req.GetFetchMessage(); f != nil {
		ss.handleFetch(ctx, str, f)
		return
	}
	if req.GetSubscribe() != nil {
		ss.handleSubscribe(ctx, str)
		return
	}
	if f := req.GetFollowMessage(); f != nil {
		ss.handleFollow(ctx, str, f)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	res, err := ss.dispatch(ctx, &req)
	ss.reply(str, res, err)
}

// rejectRateLimited replies RATE_LIMITED to a request over the
// connection's rate. It counts the reply in the metrics like any error,
// but logs it through ss.limited, because a client can send thousands a
// second.
func (ss *session) rejectRateLimited(str *quic.Stream) {
	err := errorf(pb.ErrorCode_ERROR_CODE_RATE_LIMITED,
		"too many requests: the relay allows %d per second per connection; retry later", requestRate)
	if n, ok := ss.limited.note(ss.s.now()); ok {
		ss.logger().Info("requests rate limited", "count", n, "rate", requestRate)
	}
	ss.respond(str, nil, err)
}

// dispatch runs the handler of a request that gets a single response.
func (ss *session) dispatch(ctx context.Context, req *pb.Request) (*pb.Response, error) {
	if r := req.GetRegister(); r != nil {
		return ss.handleRegister(ctx, r)
	}
	if req.GetLogin() != nil {
		return nil, errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "already logged in on this connection")
	}
	if p := req.GetPing(); p != nil {
		return ss.handlePing(p)
	}
	me, err := ss.registered()
	if err != nil {
		return nil, err
	}
	switch b := req.Body.(type) {
	case *pb.Request_CreateChannel:
		return ss.handleCreateChannel(ctx, me, b.CreateChannel)
	case *pb.Request_JoinChannel:
		return ss.handleJoinChannel(ctx, me, b.JoinChannel)
	case *pb.Request_LeaveChannel:
		return ss.handleLeaveChannel(ctx, me, b.LeaveChannel)
	case *pb.Request_ListMembers:
		return ss.handleListMembers(ctx, me, b.ListMembers)
	case *pb.Request_ListConversations:
		return ss.handleListConversations(ctx, me)
	case *pb.Request_ListMessages:
		return ss.handleListMessages(ctx, me, b.ListMessages)
	case *pb.Request_AckDelivery:
		return ss.handleAck(ctx, me, b.AckDelivery)
	case *pb.Request_MarkListened:
		return ss.handleMarkListened(ctx, me, b.MarkListened)
	}
	return nil, errorf(pb.ErrorCode_ERROR_CODE_BAD_REQUEST, "unknown request type: update the relay or use an older client")
}

// registered returns the session's handle, or a protocol error when the
// key that logged in has none.
func (ss *session) registered() (string, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.handle == "" {
		return "", errorf(pb.ErrorCode_ERROR_CODE_NOT_REGISTERED, "this key has no handle on the relay: run vm register HANDLE first")
	}
	return ss.handle, nil
}

// reply writes res, or err as a pb.Error, and closes the stream's write
// side. It logs errors and counts them by code.
func (ss *session) reply(str *quic.Stream, res *pb.Response, err error) {
	if err != nil {
		ss.logError(err)
	}
	ss.respond(str, res, err)
}

// respond is reply without the log line.
func (ss *session) respond(str *quic.Stream, res *pb.Response, err error) {
	if err != nil {
		res = &pb.Response{Error: toProto(err)}
		ss.s.metrics.errors.WithLabelValues(res.Error.Code.String()).Inc()
	}
	str.SetWriteDeadline(time.Now().Add(requestTimeout))
	if werr := proto.WriteMessage(str, res); werr != nil {
		ss.logger().Debug("write response", "err", werr)
		str.CancelWrite(codeStreamRejected)
		return
	}
	str.Close()
}

// logError logs a request that failed: client mistakes at info level,
// relay faults at error level.
func (ss *session) logError(err error) {
	var e *Error
	if errors.As(err, &e) && !e.fault && e.Code != pb.ErrorCode_ERROR_CODE_INTERNAL && e.Code != pb.ErrorCode_ERROR_CODE_UNAVAILABLE {
		ss.logger().Info("request rejected", append(logAttrs(err), "code", e.Code.String(), "err", err)...)
		return
	}
	ss.logger().Error("request failed", append(logAttrs(err), "err", err)...)
}

func (ss *session) handlePing(p *pb.Ping) (*pb.Response, error) {
	pong := &pb.Pong{ClientUnixNanos: p.ClientUnixNanos, RelayUnixNanos: ss.s.now().UnixNano()}
	return &pb.Response{Body: &pb.Response_Pong{Pong: pong}}, nil
}
