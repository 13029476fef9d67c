package relay

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

func TestLogin(t *testing.T) {
	srv := startServer(t, Config{})
	tests := []struct {
		name string
		req  func(c *testClient) *pb.Request
		want pb.ErrorCode
	}{
		{"valid", func(c *testClient) *pb.Request { return c.loginRequest(c.conn) }, pb.ErrorCode_ERROR_CODE_UNSPECIFIED},
		{"bad signature", func(c *testClient) *pb.Request {
			req := c.loginRequest(c.conn)
			req.GetLogin().Signature[0] ^= 1
			return req
		}, pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
		{"signature of another session", func(c *testClient) *pb.Request {
			other := dialWithKey(t, srv, c.priv, c.pub)
			return c.loginRequest(other.conn)
		}, pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
		{"short key", func(c *testClient) *pb.Request {
			req := c.loginRequest(c.conn)
			req.GetLogin().PublicKey = c.pub[:31]
			return req
		}, pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
		{"not login first", func(c *testClient) *pb.Request {
			return &pb.Request{Body: &pb.Request_Ping{Ping: &pb.Ping{}}}
		}, pb.ErrorCode_ERROR_CODE_UNAUTHENTICATED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, srv)
			res := c.do(tt.req(c))
			if got := errCode(res); got != tt.want {
				t.Fatalf("login error code = %v (%v), want %v", got, res.Error, tt.want)
			}
			if tt.want == pb.ErrorCode_ERROR_CODE_UNSPECIFIED && res.GetLogin().Registered {
				t.Errorf("login of a new key: registered = true, want false")
			}
		})
	}
}

func TestLoginThenRegistered(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	again := dialWithKey(t, srv, alice.priv, alice.pub)
	got := again.login()
	if !got.Registered || got.Handle != "alice" {
		t.Errorf("login of alice's key = registered %v handle %q, want true, alice", got.Registered, got.Handle)
	}
	if got.MaxMessageBytes != DefaultMaxMessageBytes {
		t.Errorf("max message bytes = %d, want %d", got.MaxMessageBytes, DefaultMaxMessageBytes)
	}
}

func registerRequest(handle, token string) *pb.Request {
	return &pb.Request{Body: &pb.Request_Register{Register: &pb.Register{Handle: handle, InviteToken: token}}}
}

func TestRegistration(t *testing.T) {
	tests := []struct {
		name   string
		mode   string
		handle string
		token  func(dataDir string) string
		want   pb.ErrorCode
	}{
		{name: "open", mode: RegistrationOpen, handle: "bob"},
		{name: "open taken", mode: RegistrationOpen, handle: "alice", want: pb.ErrorCode_ERROR_CODE_HANDLE_TAKEN},
		{name: "invalid handle", mode: RegistrationOpen, handle: "Bob!", want: pb.ErrorCode_ERROR_CODE_BAD_REQUEST},
		{name: "closed", mode: RegistrationClosed, handle: "bob", want: pb.ErrorCode_ERROR_CODE_REGISTRATION_CLOSED},
		{name: "invite missing", mode: RegistrationInvite, handle: "bob", want: pb.ErrorCode_ERROR_CODE_INVALID_INVITE},
		{name: "invite unknown", mode: RegistrationInvite, handle: "bob",
			token: func(string) string { return "00112233445566778899aabbccddeeff" }, want: pb.ErrorCode_ERROR_CODE_INVALID_INVITE},
		{name: "invite valid", mode: RegistrationInvite, handle: "bob", token: func(dir string) string {
			tok, err := NewInvite(dir)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			srv := startServer(t, Config{DataDir: dir, Registration: RegistrationOpen})
			newUser(t, srv, "alice")
			srv.stop()
			srv = startServer(t, Config{DataDir: dir, Registration: tt.mode})
			token := ""
			if tt.token != nil {
				token = tt.token(dir)
			}
			c := dial(t, srv)
			c.login()
			res := c.do(registerRequest(tt.handle, token))
			if got := errCode(res); got != tt.want {
				t.Fatalf("register error code = %v (%v), want %v", got, res.Error, tt.want)
			}
		})
	}
}

func TestInviteSingleUse(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, Config{DataDir: dir, Registration: RegistrationInvite})
	token, err := NewInvite(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := dial(t, srv)
	first.login()
	if res := first.do(registerRequest("bob", token)); res.Error != nil {
		t.Fatalf("first use of invite: %v", res.Error)
	}
	second := dial(t, srv)
	second.login()
	res := second.do(registerRequest("carol", token))
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_INVALID_INVITE; got != want {
		t.Fatalf("second use of invite: code %v, want %v", got, want)
	}
}

func TestRegisterTwice(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	if res := alice.do(registerRequest("alice", "")); res.Error != nil {
		t.Errorf("registering the same handle again: %v, want success", res.Error)
	}
	res := alice.do(registerRequest("alice2", ""))
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_ALREADY_EXISTS; got != want {
		t.Errorf("registering a second handle: code %v, want %v", got, want)
	}
}

func TestUnregisteredRequests(t *testing.T) {
	srv := startServer(t, Config{})
	c := dial(t, srv)
	c.login()
	res := c.list(&pb.ListMessages{})
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_NOT_REGISTERED; got != want {
		t.Errorf("list before register: code %v, want %v", got, want)
	}
}

func channelRequest(kind, name string) *pb.Request {
	switch kind {
	case "create":
		return &pb.Request{Body: &pb.Request_CreateChannel{CreateChannel: &pb.CreateChannel{Name: name}}}
	case "join":
		return &pb.Request{Body: &pb.Request_JoinChannel{JoinChannel: &pb.JoinChannel{Name: name}}}
	case "leave":
		return &pb.Request{Body: &pb.Request_LeaveChannel{LeaveChannel: &pb.LeaveChannel{Name: name}}}
	}
	return &pb.Request{Body: &pb.Request_ListMembers{ListMembers: &pb.ListMembers{Name: name}}}
}

func TestChannels(t *testing.T) {
	srv := startServer(t, Config{})
	users := map[string]*testClient{"alice": newUser(t, srv, "alice"), "bob": newUser(t, srv, "bob")}
	steps := []struct {
		name, user, kind, channel string
		want                      pb.ErrorCode
		members                   []string
	}{
		{"create", "alice", "create", "ops", 0, []string{"alice"}},
		{"create again", "bob", "create", "ops", pb.ErrorCode_ERROR_CODE_ALREADY_EXISTS, nil},
		{"invalid name", "bob", "create", "Ops", pb.ErrorCode_ERROR_CODE_BAD_REQUEST, nil},
		{"join", "bob", "join", "ops", 0, []string{"alice", "bob"}},
		{"join twice", "bob", "join", "ops", 0, []string{"alice", "bob"}},
		{"join unknown", "bob", "join", "dev", pb.ErrorCode_ERROR_CODE_NOT_FOUND, nil},
		{"list members", "bob", "members", "ops", 0, []string{"alice", "bob"}},
		{"leave", "alice", "leave", "ops", 0, []string{"bob"}},
		{"leave again", "alice", "leave", "ops", pb.ErrorCode_ERROR_CODE_FORBIDDEN, nil},
		{"members after leave", "alice", "members", "ops", pb.ErrorCode_ERROR_CODE_FORBIDDEN, nil},
		{"members as the last member", "bob", "members", "ops", 0, []string{"bob"}},
		{"members of unknown", "bob", "members", "dev", pb.ErrorCode_ERROR_CODE_NOT_FOUND, nil},
	}
	for _, st := range steps {
		res := users[st.user].do(channelRequest(st.kind, st.channel))
		if got := errCode(res); got != st.want {
			t.Fatalf("%s: code %v (%v), want %v", st.name, got, res.Error, st.want)
		}
		if st.members == nil {
			continue
		}
		got := res.GetChannel()
		if !equalStrings(got.Members, st.members) || got.Owner != "alice" {
			t.Errorf("%s: members %v owner %q, want %v owner alice", st.name, got.Members, got.Owner, st.members)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUploadAndFetch(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	alice.do(channelRequest("create", "ops"))
	bob.do(channelRequest("join", "ops"))
	tests := []struct {
		name, to, conv string
	}{
		{"direct", "@bob", "d.alice.bob"},
		{"channel", "#ops", "c.ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const frames = 50
			got := alice.send(tt.to, frames)
			if got.Conversation != tt.conv || got.Duplicate || got.Seq == 0 {
				t.Fatalf("upload result = %v, want conversation %s, a sequence, no duplicate", got, tt.conv)
			}
			list := bob.list(&pb.ListMessages{Conversation: tt.conv})
			if list.Error != nil || len(list.GetMessages().Messages) != 1 {
				t.Fatalf("bob's list of %s = %v, want one message", tt.conv, list)
			}
			info := list.GetMessages().Messages[0]
			if info.MessageId != got.MessageId || info.Sender != "alice" || info.Seq != got.Seq {
				t.Errorf("listed message = %v, want id %s from alice at %d", info, got.MessageId, got.Seq)
			}
			res, body := bob.fetch(tt.conv, got.MessageId)
			if res.Error != nil {
				t.Fatalf("fetch: %v", res.Error)
			}
			if size := res.GetBlob().Size; size != uint64(len(body)) || size != got.Bytes {
				t.Errorf("fetched %d bytes, header says %d, upload said %d", len(body), size, got.Bytes)
			}
			checkOggOpus(t, body, frames, got.MessageId, tt.conv)
		})
	}
}

// checkOggOpus checks that body is the Ogg Opus file of a test message.
func checkOggOpus(t *testing.T, body []byte, frames int, id, conv string) {
	t.Helper()
	f, err := oggopus.Read(bytes.NewReader(body), 1<<20)
	if err != nil {
		t.Fatalf("read fetched Ogg Opus: %v", err)
	}
	if len(f.Packets) != frames {
		t.Errorf("packets = %d, want %d", len(f.Packets), frames)
	}
	if want := int64(frames*proto.FrameSamples - testPreSkip); f.Samples != want {
		t.Errorf("samples = %d, want %d", f.Samples, want)
	}
	for i, p := range f.Packets {
		if !bytes.Equal(p, testPacket(i)) {
			t.Fatalf("packet %d differs from the uploaded one", i)
		}
	}
	if f.Head.PreSkip != testPreSkip || f.Head.Channels != 1 {
		t.Errorf("head = %+v, want pre-skip %d, 1 channel", f.Head, testPreSkip)
	}
	if f.Tags.Comments["MESSAGE_ID"] != id || f.Tags.Comments["CONVERSATION"] != conv || f.Tags.Comments["SENDER"] != "alice" {
		t.Errorf("tags = %v, want message id %s, conversation %s, sender alice", f.Tags.Comments, id, conv)
	}
}

func TestUploadDuplicate(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	newUser(t, srv, "carol")
	up := newUpload("@bob")
	first := alice.upload(up, testRecords(10, testPreSkip))
	second := alice.upload(up, testRecords(10, testPreSkip))
	if first.Error != nil || second.Error != nil {
		t.Fatalf("uploads: %v, %v", first.Error, second.Error)
	}
	if !second.GetUpload().Duplicate || second.GetUpload().Seq != first.GetUpload().Seq {
		t.Errorf("retry = %v, want duplicate with sequence %d", second.GetUpload(), first.GetUpload().Seq)
	}
	list := bob.list(&pb.ListMessages{All: true})
	if n := len(list.GetMessages().Messages); n != 1 {
		t.Errorf("bob lists %d messages, want 1", n)
	}
	conflict := up
	conflict.To = "@carol"
	res := bob.upload(conflict, testRecords(10, testPreSkip))
	if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_CONFLICT; got != want {
		t.Errorf("same id from another sender: code %v, want %v", got, want)
	}
}

func TestConcurrentDuplicate(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	up := newUpload("@bob")
	const tries = 4
	results := make(chan *pb.Response, tries)
	for range tries {
		go func() {
			res, _, err := alice.roundTrip(&pb.Request{Body: &pb.Request_Upload{Upload: up}}, testRecords(20, testPreSkip))
			if err != nil {
				res = &pb.Response{Error: &pb.Error{Message: err.Error()}}
			}
			results <- res
		}()
	}
	stored := 0
	for range tries {
		res := <-results
		if res.Error != nil {
			t.Fatalf("concurrent upload: %v", res.Error)
		}
		if !res.GetUpload().Duplicate {
			stored++
		}
	}
	if stored != 1 {
		t.Errorf("%d uploads stored, want 1", stored)
	}
	list := bob.list(&pb.ListMessages{All: true})
	if n := len(list.GetMessages().Messages); n != 1 {
		t.Errorf("bob lists %d messages, want 1", n)
	}
	res, body := bob.fetch("d.alice.bob", up.MessageId)
	if res.Error != nil || uint64(len(body)) != res.GetBlob().Size {
		t.Errorf("fetch: %v, %d bytes of %d", res.Error, len(body), res.GetBlob().GetSize())
	}
}

func TestRestartKeepsMessages(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, Config{DataDir: dir})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	sent := alice.send("@bob", 25)
	fp := srv.CertFingerprint()
	srv.stop()

	srv = startServer(t, Config{DataDir: dir})
	if srv.CertFingerprint() != fp {
		t.Errorf("fingerprint after restart = %s, want %s", srv.CertFingerprint(), fp)
	}
	alice = dialWithKey(t, srv, alice.priv, alice.pub)
	if got := alice.login(); got.Handle != "alice" {
		t.Fatalf("login after restart: handle %q, want alice", got.Handle)
	}
	list := alice.list(&pb.ListMessages{All: true})
	msgs := list.GetMessages().GetMessages()
	if len(msgs) != 1 || msgs[0].MessageId != sent.MessageId {
		t.Fatalf("messages after restart = %v, want %s", msgs, sent.MessageId)
	}
	res, body := alice.fetch(sent.Conversation, sent.MessageId)
	if res.Error != nil {
		t.Fatalf("fetch after restart: %v", res.Error)
	}
	checkOggOpus(t, body, 25, sent.MessageId, sent.Conversation)
}

func TestOfflineDeliveryAndCursor(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bobKey := newUser(t, srv, "bob")
	bobKey.conn.CloseWithError(0, "")
	first := alice.send("@bob", 5)
	second := alice.send("@bob", 5)

	bob := dialWithKey(t, srv, bobKey.priv, bobKey.pub)
	bob.login()
	msgs := bob.list(&pb.ListMessages{}).GetMessages().GetMessages()
	if len(msgs) != 2 || msgs[0].MessageId != first.MessageId || msgs[1].MessageId != second.MessageId {
		t.Fatalf("bob's new messages = %v, want %s then %s", msgs, first.MessageId, second.MessageId)
	}
	convs := bob.do(&pb.Request{Body: &pb.Request_ListConversations{ListConversations: &pb.ListConversations{}}}).GetConversations()
	if len(convs.GetConversations()) != 1 || convs.Conversations[0].Unread != 2 || convs.Conversations[0].Display != "@alice" {
		t.Errorf("bob's conversations = %v, want @alice with 2 unread", convs)
	}
	ack := &pb.Request{Body: &pb.Request_AckDelivery{AckDelivery: &pb.AckDelivery{Conversation: first.Conversation, Seq: first.Seq}}}
	if res := bob.do(ack); res.Error != nil {
		t.Fatalf("ack: %v", res.Error)
	}
	msgs = bob.list(&pb.ListMessages{}).GetMessages().GetMessages()
	if len(msgs) != 1 || msgs[0].MessageId != second.MessageId {
		t.Errorf("bob's new messages after ack = %v, want only %s", msgs, second.MessageId)
	}
	if res := bob.do(ack); res.Error != nil {
		t.Errorf("repeated ack: %v", res.Error)
	}
	bad := &pb.Request{Body: &pb.Request_AckDelivery{AckDelivery: &pb.AckDelivery{Conversation: first.Conversation, Seq: 9999}}}
	if got, want := errCode(bob.do(bad)), pb.ErrorCode_ERROR_CODE_NOT_FOUND; got != want {
		t.Errorf("ack of unknown sequence: code %v, want %v", got, want)
	}
}

func TestAuthorization(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	newUser(t, srv, "bob")
	eve := newUser(t, srv, "eve")
	alice.do(channelRequest("create", "ops"))
	direct := alice.send("@bob", 5)
	channel := alice.send("#ops", 5)
	forbidden := pb.ErrorCode_ERROR_CODE_FORBIDDEN
	tests := []struct {
		name string
		req  *pb.Request
	}{
		{"list direct", &pb.Request{Body: &pb.Request_ListMessages{ListMessages: &pb.ListMessages{Conversation: direct.Conversation, All: true}}}},
		{"list channel", &pb.Request{Body: &pb.Request_ListMessages{ListMessages: &pb.ListMessages{Conversation: channel.Conversation, All: true}}}},
		{"fetch direct", &pb.Request{Body: &pb.Request_FetchMessage{FetchMessage: &pb.FetchMessage{Conversation: direct.Conversation, MessageId: direct.MessageId}}}},
		{"fetch channel", &pb.Request{Body: &pb.Request_FetchMessage{FetchMessage: &pb.FetchMessage{Conversation: channel.Conversation, MessageId: channel.MessageId}}}},
		{"ack direct", &pb.Request{Body: &pb.Request_AckDelivery{AckDelivery: &pb.AckDelivery{Conversation: direct.Conversation, Seq: direct.Seq}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := eve.do(tt.req)
			if got := errCode(res); got != forbidden {
				t.Errorf("eve: code %v (%v), want %v", got, res.Error, forbidden)
			}
		})
	}
	if n := len(eve.list(&pb.ListMessages{All: true}).GetMessages().GetMessages()); n != 0 {
		t.Errorf("eve lists %d messages of all her conversations, want 0", n)
	}
	res := eve.upload(newUpload("#ops"), testRecords(5, testPreSkip))
	if got := errCode(res); got != forbidden {
		t.Errorf("eve sends to #ops: code %v, want %v", got, forbidden)
	}
}

func TestUnknownRecipient(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	for _, to := range []string{"@nobody", "#nothing"} {
		res := alice.upload(newUpload(to), testRecords(5, testPreSkip))
		if got, want := errCode(res), pb.ErrorCode_ERROR_CODE_NOT_FOUND; got != want {
			t.Errorf("upload to %s: code %v (%v), want %v", to, got, res.Error, want)
		}
	}
	if got := alice.do(&pb.Request{Body: &pb.Request_Ping{Ping: &pb.Ping{ClientUnixNanos: 7}}}); got.GetPong().GetClientUnixNanos() != 7 {
		t.Errorf("ping after rejected uploads = %v, want pong 7", got)
	}
}

// blobFiles lists the files under the relay's blob directory.
func blobFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(filepath.Join(dataDir, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func TestUnreadCounts(t *testing.T) {
	srv := startServer(t, Config{})
	alice := newUser(t, srv, "alice")
	bob := newUser(t, srv, "bob")
	first := alice.send("@bob", 5)
	alice.send("@bob", 5)
	bob.send("@alice", 5)

	unread := func(c *testClient) uint64 {
		t.Helper()
		convs := c.do(&pb.Request{Body: &pb.Request_ListConversations{ListConversations: &pb.ListConversations{}}}).GetConversations()
		if len(convs.GetConversations()) != 1 {
			t.Fatalf("got conversations %v, want one", convs)
		}
		return convs.Conversations[0].Unread
	}
	if got := unread(bob); got != 2 {
		t.Errorf("bob's unread = %d, want 2 (his own message does not count)", got)
	}
	if got := unread(alice); got != 1 {
		t.Errorf("alice's unread = %d, want 1", got)
	}
	mark := &pb.Request{Body: &pb.Request_MarkListened{MarkListened: &pb.MarkListened{MessageId: first.MessageId, Conversation: first.Conversation}}}
	if res := bob.do(mark); res.Error != nil {
		t.Fatalf("MarkListened: %v", res.Error)
	}
	if got := unread(bob); got != 1 {
		t.Errorf("bob's unread after playing one = %d, want 1", got)
	}
}
