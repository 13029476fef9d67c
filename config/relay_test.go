package config

import (
	"testing"

	"github.com/spf13/pflag"
)

func TestRelayEnvName(t *testing.T) {
	tests := []struct{ flag, want string }{
		{"listen", "RELAY_LISTEN"},
		{"max-message-bytes", "RELAY_MAX_MESSAGE_BYTES"},
		{"tls-cert", "RELAY_TLS_CERT"},
	}
	for _, tt := range tests {
		if got := RelayEnvName(tt.flag); got != tt.want {
			t.Errorf("RelayEnvName(%q) = %q, want %q", tt.flag, got, tt.want)
		}
	}
}

func TestApplyRelayEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr bool
	}{
		{name: "default", want: "a"},
		{name: "env sets", env: map[string]string{"RELAY_LISTEN_ADDR": "b"}, want: "b"},
		{name: "flag wins", args: []string{"--listen-addr=c"}, env: map[string]string{"RELAY_LISTEN_ADDR": "b"}, want: "c"},
		{name: "invalid value", env: map[string]string{"RELAY_COUNT": "x"}, want: "a", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("relay", pflag.ContinueOnError)
			listen := fs.String("listen-addr", "a", "")
			fs.Int("count", 1, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := ApplyRelayEnv(fs, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("ApplyRelayEnv error = %v, want error %v", err, tt.wantErr)
			}
			if *listen != tt.want {
				t.Errorf("listen-addr = %q, want %q", *listen, tt.want)
			}
		})
	}
}

func TestDefaultRelayDataDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_DATA_HOME": "/x", "HOME": "/h"}, "/x/vm-relay"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.local/share/vm-relay"},
		{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "x", "HOME": "/h"}, "/h/.local/share/vm-relay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultRelayDataDir(func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DefaultRelayDataDir = %q, want %q", got, tt.want)
			}
		})
	}
}
