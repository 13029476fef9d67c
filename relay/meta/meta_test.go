package meta

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vm-voice/vm/proto/pb"
)

func openTestStore(t *testing.T) *JetStreamStore {
	t.Helper()
	e, err := StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	s, err := OpenJetStream(context.Background(), e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMessagesQuery(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ids := []string{"01AAAAAAAAAAAAAAAAAAAAAAA1", "01AAAAAAAAAAAAAAAAAAAAAAA2", "01AAAAAAAAAAAAAAAAAAAAAAA3"}
	convs := []string{"c.ops", "d.alice.bob", "c.ops"}
	var seqs []uint64
	for i, id := range ids {
		m, dup, err := s.PutMessage(ctx, &pb.MessageInfo{MessageId: id, Conversation: convs[i], Sender: "alice"})
		if err != nil || dup {
			t.Fatalf("PutMessage %s: dup %v, err %v", id, dup, err)
		}
		seqs = append(seqs, m.Seq)
	}
	tests := []struct {
		name string
		q    Query
		want []string
		more bool
	}{
		{"all of channel", Query{Conversation: "c.ops", Limit: 10}, []string{ids[0], ids[2]}, false},
		{"after first", Query{Conversation: "c.ops", AfterSeq: seqs[0], Limit: 10}, []string{ids[2]}, false},
		{"limited", Query{Conversation: "c.ops", Limit: 1}, []string{ids[0]}, true},
		{"direct", Query{Conversation: "d.alice.bob", Limit: 10}, []string{ids[1]}, false},
		{"since future", Query{Conversation: "c.ops", Since: time.Now().Add(time.Hour), Limit: 10}, nil, false},
		{"since past", Query{Conversation: "c.ops", Since: time.Now().Add(-time.Hour), Limit: 10}, []string{ids[0], ids[2]}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, more, err := s.Messages(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, m.MessageId)
			}
			if len(got) != len(tt.want) || more != tt.more {
				t.Fatalf("Messages = %v more %v, want %v more %v", got, more, tt.want, tt.more)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("message %d = %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
	if last, _ := s.LastSeq(ctx, "c.ops"); last != seqs[2] {
		t.Errorf("LastSeq(c.ops) = %d, want %d", last, seqs[2])
	}
	_, dup, err := s.PutMessage(ctx, &pb.MessageInfo{MessageId: ids[0], Conversation: "c.ops", Sender: "alice"})
	if err != nil || !dup {
		t.Errorf("PutMessage of a stored id: dup %v err %v, want dup", dup, err)
	}
}

func TestCursorNeverMovesBack(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	steps := []struct{ advance, want uint64 }{{5, 5}, {3, 5}, {9, 9}}
	for _, st := range steps {
		got, err := s.AdvanceCursor(ctx, "bob", "c.ops", st.advance)
		if err != nil || got != st.want {
			t.Fatalf("AdvanceCursor(%d) = %d, %v, want %d", st.advance, got, err, st.want)
		}
	}
	if got, _ := s.Cursor(ctx, "bob", "c.ops"); got != 9 {
		t.Errorf("Cursor = %d, want 9", got)
	}
}

func TestCreateUserConflicts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	key := make([]byte, 32)
	if err := s.CreateUser(ctx, User{Handle: "alice", PublicKey: key}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		u    User
	}{
		{"handle taken", User{Handle: "alice", PublicKey: make([]byte, 31)}},
		{"key taken", User{Handle: "bob", PublicKey: key}},
	}
	for _, tt := range tests {
		if err := s.CreateUser(ctx, tt.u); !errors.Is(err, ErrExists) {
			t.Errorf("%s: CreateUser error %v, want ErrExists", tt.name, err)
		}
	}
	if _, err := s.User(ctx, "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob after a failed registration: %v, want ErrNotFound", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"name":"ops","owner":"alice","members":["alice"]}`))
	f.Add([]byte(`{"handle":"a","public_key":"AAAA"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Channel
		decodeRecord(b, &c)
		var u User
		decodeRecord(b, &u)
	})
}
