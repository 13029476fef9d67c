package config

import (
	"os"
	"path/filepath"
	"testing"
)

func envMap(m map[string]string) Getenv {
	return func(k string) string { return m[k] }
}

func TestResolvePaths(t *testing.T) {
	tests := []struct {
		name         string
		flag         string
		env          map[string]string
		wantHome     string
		wantMessages string
	}{
		{
			name:         "flag wins over everything",
			flag:         "/f",
			env:          map[string]string{EnvHome: "/e", envXDGConfigHome: "/x", envUserHome: "/u"},
			wantHome:     "/f",
			wantMessages: "/f/messages",
		},
		{
			name:         "VM_HOME wins over XDG",
			env:          map[string]string{EnvHome: "/e", envXDGConfigHome: "/x", envUserHome: "/u"},
			wantHome:     "/e",
			wantMessages: "/e/messages",
		},
		{
			name:         "XDG directories",
			env:          map[string]string{envXDGConfigHome: "/x", envXDGDataHome: "/d", envUserHome: "/u"},
			wantHome:     "/x/vm",
			wantMessages: "/d/vm/messages",
		},
		{
			name:         "HOME fallback",
			env:          map[string]string{envUserHome: "/u"},
			wantHome:     "/u/.config/vm",
			wantMessages: "/u/.local/share/vm/messages",
		},
		{
			name:         "relative XDG values ignored",
			env:          map[string]string{envXDGConfigHome: "x", envXDGDataHome: "d", envUserHome: "/u"},
			wantHome:     "/u/.config/vm",
			wantMessages: "/u/.local/share/vm/messages",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolvePaths(tt.flag, envMap(tt.env))
			if err != nil {
				t.Fatalf("ResolvePaths: %v", err)
			}
			if got.Home != tt.wantHome {
				t.Errorf("got home %q, want %q", got.Home, tt.wantHome)
			}
			if got.Messages != tt.wantMessages {
				t.Errorf("got messages %q, want %q", got.Messages, tt.wantMessages)
			}
		})
	}
}

func TestResolvePathsRelativeFlag(t *testing.T) {
	got, err := ResolvePaths("rel", envMap(nil))
	if err != nil {
		t.Fatalf("ResolvePaths: %v", err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "rel"); got.Home != want {
		t.Errorf("got home %q, want %q", got.Home, want)
	}
}

func TestResolvePathsNoHome(t *testing.T) {
	if _, err := ResolvePaths("", envMap(nil)); err == nil {
		t.Error("got no error without any home directory, want one")
	}
}

func TestEnsureHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "a", "vm")
	if err := EnsureHome(home); err != nil {
		t.Fatalf("EnsureHome: %v", err)
	}
	info, err := os.Stat(home)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("got mode %o, want 700", got)
	}
}
