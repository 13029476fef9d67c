package client

import (
	"path/filepath"
	"strings"
	"testing"
)

const (
	idA = "01JAAAAAAAAAAAAAAAAAAAAAAA"
	idB = "01JBBBBBBBBBBBBBBBBBBBBBBB"
)

func TestParseFetched(t *testing.T) {
	tests := []struct {
		name          string
		data          string
		wantKeys      []string
		wantMalformed int
	}{
		{name: "empty"},
		{
			name:     "two entries",
			data:     "c.ops " + idA + "\nd.alice.bob " + idB + "\n",
			wantKeys: []string{"c.ops " + idA, "d.alice.bob " + idB},
		},
		{
			name:          "torn last line",
			data:          "c.ops " + idA + "\nc.ops 01JB",
			wantKeys:      []string{"c.ops " + idA},
			wantMalformed: 1,
		},
		{
			name:          "bad conversation and id",
			data:          "x.ops " + idA + "\nc.ops nope\nc.ops\n\n",
			wantMalformed: 4,
		},
		{
			name:          "lower-case id",
			data:          "c.ops " + strings.ToLower(idA) + "\n",
			wantMalformed: 1,
		},
		{
			name:          "long line skipped",
			data:          strings.Repeat("x", 10000) + "\nc.ops " + idA + "\n",
			wantKeys:      []string{"c.ops " + idA},
			wantMalformed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen, malformed, err := ParseFetched(strings.NewReader(tt.data))
			if err != nil {
				t.Fatalf("ParseFetched: %v", err)
			}
			if malformed != tt.wantMalformed {
				t.Errorf("got %d malformed lines, want %d", malformed, tt.wantMalformed)
			}
			if len(seen) != len(tt.wantKeys) {
				t.Errorf("got %d entries, want %d", len(seen), len(tt.wantKeys))
			}
			for _, k := range tt.wantKeys {
				if _, ok := seen[k]; !ok {
					t.Errorf("got no entry %q", k)
				}
			}
		})
	}
}

func TestFetchedLogPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), FetchedFile)
	l, _, err := OpenFetchedLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Has("c.ops", idA) {
		t.Fatal("got Has true on an empty record")
	}
	if err := l.Add("c.ops", idA); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := l.Add("c.ops", "../../etc"); err == nil {
		t.Error("Add with an invalid id: got no error, want one")
	}
	again, malformed, err := OpenFetchedLog(path)
	if err != nil || malformed != 0 {
		t.Fatalf("reopen: got %d malformed lines and error %v", malformed, err)
	}
	if !again.Has("c.ops", idA) {
		t.Error("got Has false after reopening, want true")
	}
	if again.Has("c.dev", idA) {
		t.Error("got Has true for the same id in another conversation, want false")
	}
}

func FuzzParseFetched(f *testing.F) {
	f.Add([]byte("c.ops " + idA + "\n"))
	f.Add([]byte("d.a.b " + idB + "\r\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seen, malformed, err := ParseFetched(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("ParseFetched: %v", err)
		}
		if malformed < 0 || len(seen) > len(data)/27 {
			t.Fatalf("got %d entries and %d malformed lines from %d bytes", len(seen), malformed, len(data))
		}
		for k := range seen {
			conv, id, _ := strings.Cut(k, " ")
			if _, _, ok := parseFetchedLine(conv + " " + id); !ok {
				t.Fatalf("got invalid key %q", k)
			}
		}
	})
}
