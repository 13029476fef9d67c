package meta

import (
	"context"
	"testing"
	"time"
)

func TestReceipts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	const id = "01AAAAAAAAAAAAAAAAAAAAAAA1"
	r, err := s.Receipts(ctx, id)
	if err != nil || len(r) != 0 {
		t.Fatalf("Receipts before any mark = %v, %v; want empty, nil", r, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		handle    string
		at        time.Time
		wantFirst bool
	}{
		{"bob", at, true},
		{"bob", at.Add(time.Hour), false},
		{"carol", at.Add(time.Minute), true},
	}
	for _, st := range steps {
		first, err := s.MarkListened(ctx, id, st.handle, st.at)
		if err != nil {
			t.Fatalf("MarkListened %s: %v", st.handle, err)
		}
		if first != st.wantFirst {
			t.Errorf("MarkListened %s at %s: first = %v, want %v", st.handle, st.at, first, st.wantFirst)
		}
	}
	r, err = s.Receipts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 2 || !r["bob"].Equal(at) || !r["carol"].Equal(at.Add(time.Minute)) {
		t.Errorf("Receipts = %v, want bob at %s and carol a minute later", r, at)
	}
}
