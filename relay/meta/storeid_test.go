package meta

import (
	"context"
	"sync"
	"testing"
)

func TestStoreIDSharedAndStable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e, err := StartEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	stores := make([]*JetStreamStore, 8)
	for i := range stores {
		if stores[i], err = OpenJetStream(ctx, e.Conn()); err != nil {
			t.Fatal(err)
		}
	}
	// Relays that start together on a new store race to create the id.
	ids := make([]string, len(stores))
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { ids[i], errs[i] = s.StoreID(ctx) })
	}
	wg.Wait()
	for i := range stores {
		if errs[i] != nil {
			t.Fatalf("StoreID %d: %v", i, errs[i])
		}
		if !validStoreID(ids[i]) {
			t.Errorf("got store id %q, want %d lowercase hex digits", ids[i], 2*storeIDBytes)
		}
		if ids[i] != ids[0] {
			t.Errorf("got store id %q from store %d, want %q as from store 0", ids[i], i, ids[0])
		}
	}
	e.Close()

	e, err = StartEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, err := OpenJetStream(ctx, e.Conn())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.StoreID(ctx)
	if err != nil {
		t.Fatalf("StoreID after restart: %v", err)
	}
	if got != ids[0] {
		t.Errorf("got store id %q after restart, want %q", got, ids[0])
	}

	other, err := openTestStore(t).StoreID(ctx)
	if err != nil {
		t.Fatalf("StoreID of another store: %v", err)
	}
	if other == ids[0] {
		t.Errorf("got store id %q for two separate stores, want different ids", other)
	}
}

func TestValidStoreID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"0123456789abcdef", true},
		{"0123456789ABCDEF", false},
		{"0123456789abcde", false},
		{"0123456789abcdef0", false},
		{"0123456789abcdeg", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := validStoreID(tt.id); got != tt.want {
			t.Errorf("validStoreID(%q): got %v, want %v", tt.id, got, tt.want)
		}
	}
}
