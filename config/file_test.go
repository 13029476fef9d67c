package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want Client
	}{
		{
			name: "defaults without file",
			want: Client{},
		},
		{
			name: "file over defaults",
			file: "relay = \"127.0.0.1:1\"\nhandle = \"alice\"\nto = \"#ops\"\n",
			want: Client{Relay: "127.0.0.1:1", Handle: "alice", To: "#ops"},
		},
		{
			name: "environment over file",
			file: "relay = \"127.0.0.1:1\"\nhandle = \"alice\"\nto = \"#ops\"\n",
			env:  map[string]string{EnvRelay: "127.0.0.1:2", EnvTo: "@bob"},
			want: Client{Relay: "127.0.0.1:2", Handle: "alice", To: "@bob"},
		},
		{
			name: "empty environment keeps file",
			file: "relay = \"127.0.0.1:1\"\n",
			env:  map[string]string{EnvRelay: ""},
			want: Client{Relay: "127.0.0.1:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(home, FileName), []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Load(home, envMap(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{name: "unknown key", content: "relya = \"x:1\"\n", wantErr: `unknown key "relya"`},
		{name: "bad syntax", content: "relay = \n", wantErr: "parse"},
		{name: "wrong type", content: "relay = 5\n", wantErr: "parse"},
		{name: "too large", content: strings.Repeat("#", maxFileSize+1), wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, FileName), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(home)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	home := t.TempDir()
	want := Client{Relay: "[::1]:4433", Handle: "alice", To: "#ops"}
	if err := WriteFile(home, want); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := ReadFile(home)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	info, err := os.Stat(filepath.Join(home, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("got mode %o, want 600", perm)
	}
	entries, _ := os.ReadDir(home)
	if len(entries) != 1 {
		t.Errorf("got %d files in home, want 1 (no temporary file left)", len(entries))
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		c       Client
		wantErr bool
	}{
		{name: "zero", c: Client{}},
		{name: "full", c: Client{Relay: "127.0.0.1:4433", Handle: "a", To: "@b"}},
		{name: "ipv6 relay", c: Client{Relay: "[::1]:4433"}},
		{name: "relay without port", c: Client{Relay: "127.0.0.1"}, wantErr: true},
		{name: "relay with empty host", c: Client{Relay: ":4433"}, wantErr: true},
		{name: "bad handle", c: Client{Handle: "Alice"}, wantErr: true},
		{name: "bad recipient", c: Client{To: "bob"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("got error %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestUnknownKeyListsEveryKey(t *testing.T) {
	// Every key that an encoded Client contains must be named in the error
	// for an unknown key, so the list cannot fall behind the fields.
	full := Client{Relay: "127.0.0.1:1", Handle: "a", To: "@b", Mic: "m", Speaker: "s", TalkMode: "hold"}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(full); err != nil {
		t.Fatal(err)
	}
	var encoded map[string]any
	if _, err := toml.Decode(buf.String(), &encoded); err != nil {
		t.Fatal(err)
	}
	if len(encoded) != reflect.TypeFor[Client]().NumField() {
		t.Fatalf("got %d encoded keys, want one per field of Client; set every field in this test", len(encoded))
	}

	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, FileName), []byte("relya = \"x:1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(home)
	if err == nil {
		t.Fatal("got no error for an unknown key")
	}
	for key := range encoded {
		if !slices.Contains(Keys(), key) {
			t.Errorf("Keys() = %v, missing %q", Keys(), key)
		}
		if !strings.Contains(err.Error(), key) {
			t.Errorf("got error %q, want it to name key %q", err, key)
		}
	}
}
