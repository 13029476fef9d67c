package client

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestIdentitySaveLoad(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if err := id.Save(home, false); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := LoadIdentity(home)
	if err != nil {
		t.Fatalf("LoadIdentity: %v", err)
	}
	if !got.Key.Equal(id.Key) {
		t.Error("got a different key back")
	}
	modes := map[string]os.FileMode{home: 0o700, filepath.Join(home, IdentityFile): 0o600}
	for path, want := range modes {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != want {
			t.Errorf("%s: got mode %o, want %o", path, perm, want)
		}
	}
	pub, err := os.ReadFile(filepath.Join(home, IdentityPublicFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pub), "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("got public key file %q, want PEM PUBLIC KEY", pub)
	}
}

func TestIdentitySaveRefusesOverwrite(t *testing.T) {
	home := t.TempDir()
	first, _ := GenerateIdentity()
	second, _ := GenerateIdentity()
	if err := first.Save(home, false); err != nil {
		t.Fatal(err)
	}
	if err := second.Save(home, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("got %v, want fs.ErrExist", err)
	}
	got, _ := LoadIdentity(home)
	if !got.Key.Equal(first.Key) {
		t.Error("got the second key after a refused overwrite, want the first")
	}
	if err := second.Save(home, true); err != nil {
		t.Fatalf("Save with force: %v", err)
	}
	got, _ = LoadIdentity(home)
	if !got.Key.Equal(second.Key) {
		t.Error("got the first key after a forced overwrite, want the second")
	}
}

func TestLoadIdentityErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{name: "missing", wantErr: "run vm init"},
		{name: "readable by others", content: "x", mode: 0o644, wantErr: "chmod 600"},
		{name: "not PEM", content: "hello", mode: 0o600, wantErr: "no PEM PRIVATE KEY"},
		{name: "bad PKCS8", content: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
			mode: 0o600, wantErr: "identity"},
		{name: "huge", content: strings.Repeat("A", maxKeyFile+1), mode: 0o600, wantErr: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.mode != 0 {
				path := filepath.Join(home, IdentityFile)
				if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, tt.mode)
			}
			_, err := LoadIdentity(home)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestIdentityFingerprint(t *testing.T) {
	id, _ := GenerateIdentity()
	fp := id.Fingerprint()
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(fp) {
		t.Errorf("got fingerprint %q, want sha256:HEX", fp)
	}
	if fp != id.Fingerprint() {
		t.Error("got two fingerprints for one key")
	}
}
