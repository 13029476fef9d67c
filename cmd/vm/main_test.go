package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/relay"
)

// result is the outcome of one vm run.
type result struct {
	stdout, stderr string
	code           int
}

// vmTest runs vm in-process with its own home directory.
type vmTest struct {
	t     *testing.T
	home  string
	relay string
	env   map[string]string
	tweak func(a *app)
}

func newVM(t *testing.T, relayAddr string) *vmTest {
	return &vmTest{t: t, home: filepath.Join(t.TempDir(), "home"), relay: relayAddr}
}

// run executes vm with args, adding --home and, when set, --relay.
func (v *vmTest) run(stdin io.Reader, args ...string) result {
	v.t.Helper()
	var out, errOut bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	env := func(key string) string { return v.env[key] }
	a := &app{stdin: stdin, stdout: &out, stderr: &errOut, env: env, backoff: client.DefaultBackoff}
	if v.tweak != nil {
		v.tweak(a)
	}
	full := append([]string{"--home", v.home}, args...)
	if v.relay != "" {
		full = append(full, "--relay", v.relay)
	}
	code := a.execute(v.t.Context(), full)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// must runs vm and fails the test unless it exits 0.
func (v *vmTest) must(args ...string) result {
	v.t.Helper()
	r := v.run(nil, args...)
	if r.code != exitOK {
		v.t.Fatalf("vm %s: got exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// user returns a vm with an identity registered as handle.
func user(t *testing.T, srv *relay.Server, handle string) *vmTest {
	t.Helper()
	v := newVM(t, srv.Addr().String())
	v.must("init")
	v.must("register", handle)
	return v
}

// startRelay runs an in-process relay on a loopback port.
func startRelay(t *testing.T, cfg relay.Config) *relay.Server {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	srv, err := relay.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			t.Errorf("relay Run: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return srv
}

const speechFile = "../../testdata/speech-16k.wav"

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown command", args: []string{"bogus"}, want: `unknown command "bogus"`},
		{name: "unknown flag", args: []string{"fetch", "--nope"}, want: "unknown flag"},
		{name: "send without file", args: []string{"send"}, want: "needs one FILE"},
		{name: "register without handle", args: []string{"register"}, want: "needs a HANDLE"},
		{name: "bad handle", args: []string{"register", "Bad!"}, want: `invalid handle "Bad!"`},
		{name: "bad format", args: []string{"fetch", "--format", "mp3"}, want: `invalid --format "mp3"`},
		{name: "bad since", args: []string{"fetch", "--since", "yesterday"}, want: `invalid --since "yesterday"`},
		{name: "bad bitrate", args: []string{"send", "x.wav", "--to", "@b", "--bitrate", "1"}, want: "invalid --bitrate 1"},
		{name: "extra argument", args: []string{"whoami", "x"}, want: "takes no arguments"},
		{name: "bad channel", args: []string{"channel", "join", "#A"}, want: `invalid channel "A"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newVM(t, "").run(nil, tt.args...)
			if r.code != exitUsage {
				t.Errorf("got exit %d, want %d", r.code, exitUsage)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

func TestInit(t *testing.T) {
	v := newVM(t, "")
	r := v.must("init")
	fp := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(fp, "sha256:") || len(fp) != 71 {
		t.Errorf("got stdout %q, want the key fingerprint", r.stdout)
	}
	r = v.run(nil, "init")
	if r.code != exitError || !strings.Contains(r.stderr, "--force") {
		t.Errorf("second init: got exit %d, stderr %q, want exit 1 naming --force", r.code, r.stderr)
	}
	r = v.must("init", "--force")
	if strings.TrimSpace(r.stdout) == fp {
		t.Error("got the same fingerprint after init --force, want a new key")
	}
	info, err := os.Stat(filepath.Join(v.home, client.IdentityFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("got identity mode %o, want 600", perm)
	}
}

func TestWhoamiAndVersion(t *testing.T) {
	v := newVM(t, "")
	r := v.must("whoami")
	if !strings.Contains(r.stdout, "run vm init") || !strings.Contains(r.stdout, v.home) {
		t.Errorf("got whoami %q before init, want hints and the home", r.stdout)
	}
	fp := strings.TrimSpace(v.must("init").stdout)
	if r := v.must("whoami"); !strings.Contains(r.stdout, fp) {
		t.Errorf("got whoami %q, want the fingerprint %s", r.stdout, fp)
	}
	r = v.must("version")
	if !strings.Contains(r.stdout, "vm dev") || !strings.Contains(r.stdout, "protocol vm/1") {
		t.Errorf("got version %q", r.stdout)
	}
}

func TestRelayAddressPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  string
		flag string
		want string
	}{
		{name: "file", file: "127.0.0.1:1", want: "127.0.0.1:1"},
		{name: "environment over file", file: "127.0.0.1:1", env: "127.0.0.1:2", want: "127.0.0.1:2"},
		{name: "flag over environment", file: "127.0.0.1:1", env: "127.0.0.1:2", flag: "127.0.0.1:3", want: "127.0.0.1:3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVM(t, tt.flag)
			v.env = map[string]string{config.EnvRelay: tt.env}
			if err := config.EnsureHome(v.home); err != nil {
				t.Fatal(err)
			}
			if err := config.WriteFile(v.home, config.Client{Relay: tt.file}); err != nil {
				t.Fatal(err)
			}
			r := v.must("whoami")
			if !strings.Contains(r.stdout, "relay:  "+tt.want+"\n") {
				t.Errorf("got whoami %q, want relay %s", r.stdout, tt.want)
			}
		})
	}
}

func TestHomeFromEnvironment(t *testing.T) {
	v := newVM(t, "")
	home := filepath.Join(t.TempDir(), "envhome")
	v.env = map[string]string{config.EnvHome: home}
	var out bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard,
		env: func(k string) string { return v.env[k] }, backoff: client.DefaultBackoff}
	if code := a.execute(t.Context(), []string{"init"}); code != exitOK {
		t.Fatalf("init with VM_HOME: got exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(home, client.IdentityFile)); err != nil {
		t.Errorf("got no identity under VM_HOME: %v", err)
	}
}

func TestRegister(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	v := newVM(t, srv.Addr().String())
	v.must("init")
	r := v.must("register", "alice")
	if !strings.Contains(r.stderr, "pinned its key "+srv.CertFingerprint()) {
		t.Errorf("got stderr %q, want the pinned key reported", r.stderr)
	}
	if r := v.must("register", "@alice"); strings.Contains(r.stderr, "pinned") {
		t.Errorf("got stderr %q on the second register, want no new pin", r.stderr)
	}
	r = v.run(nil, "register", "alice2")
	if r.code != exitError || !strings.Contains(r.stderr, "already registered as @alice") {
		t.Errorf("other handle: got exit %d, stderr %q", r.code, r.stderr)
	}
	v.relay = "" // from config.toml now
	r = v.must("whoami")
	if !strings.Contains(r.stdout, "@alice") || !strings.Contains(r.stdout, srv.Addr().String()) {
		t.Errorf("got whoami %q, want the handle and relay", r.stdout)
	}
	rival := newVM(t, srv.Addr().String())
	rival.must("init")
	if r := rival.run(nil, "register", "alice"); r.code != exitError || !strings.Contains(r.stderr, "taken") {
		t.Errorf("taken handle: got exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestChangedRelayKeyRejected(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	v := newVM(t, srv.Addr().String())
	v.must("init")
	pins := filepath.Join(v.home, client.KnownRelaysFile)
	old := "sha256:" + strings.Repeat("0", 64)
	if err := os.WriteFile(pins, []byte(srv.Addr().String()+" "+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := v.run(nil, "register", "alice")
	if r.code != exitError {
		t.Errorf("got exit %d, want 1", r.code)
	}
	for _, want := range []string{"delete line 1 of " + pins, srv.CertFingerprint()} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("got stderr %q, want it to contain %q", r.stderr, want)
		}
	}
	if n := strings.Count(r.stderr, "\n"); n != 1 {
		t.Errorf("got %d lines on stderr, want 1", n)
	}
}

func TestUnreachableRelay(t *testing.T) {
	// A bound UDP socket that never responds plays a relay that is down.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	v := newVM(t, pc.LocalAddr().String())
	v.tweak = func(a *app) {
		a.handshakeTimeout = 100 * time.Millisecond
		a.backoff = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	}
	v.must("init")
	r := v.run(nil, "register", "alice")
	want := "relay " + pc.LocalAddr().String() + " unreachable after 4 attempts"
	if r.code != exitError || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "is the relay running") {
		t.Errorf("got exit %d, stderr %q, want exit 1 and %q", r.code, r.stderr, want)
	}
}

func TestSendFetch(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	out := t.TempDir()

	r := alice.must("send", speechFile, "--to", "@bob")
	msgID := strings.TrimSpace(r.stdout)
	if len(msgID) != 26 {
		t.Fatalf("got stdout %q, want a message id", r.stdout)
	}

	r = bob.must("fetch", "--out", out)
	paths := strings.Fields(r.stdout)
	if len(paths) != 1 || !strings.HasPrefix(paths[0], filepath.Join(out, "alice")+"/") ||
		!strings.HasSuffix(paths[0], "-alice-"+msgID+".ogg") {
		t.Fatalf("got fetch output %q, want one file under %s/alice", r.stdout, out)
	}
	blob, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oggopus.Read(bytes.NewReader(blob), int64(len(blob))); err != nil {
		t.Errorf("fetched file is not Ogg Opus: %v", err)
	}

	if r := bob.must("fetch", "--out", out); r.stdout != "" {
		t.Errorf("second fetch: got %q, want nothing new", r.stdout)
	}
	if r := bob.must("fetch", "--out", out, "--all"); r.stdout != "" {
		t.Errorf("fetch --all: got %q, want nothing, because the message was fetched", r.stdout)
	}
	r = bob.must("fetch", "--out", out, "--all", "--again", "--format", "wav", "--to", "@alice")
	if wav := strings.TrimSpace(r.stdout); !strings.HasSuffix(wav, ".wav") {
		t.Fatalf("fetch --again --format wav: got %q, want a .wav path", r.stdout)
	}
	if r := alice.must("fetch", "--out", t.TempDir(), "--all"); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("sender fetch --all: got %q, want its own message", r.stdout)
	}

	r = alice.run(nil, "send", speechFile, "--to", "@nobody")
	if r.code != exitError || !strings.Contains(r.stderr, "not_found") || r.stdout != "" {
		t.Errorf("unknown recipient: got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestSendFromStdinToChannel(t *testing.T) {
	srv := startRelay(t, relay.Config{})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	alice.must("channel", "create", "#ops")
	bob.must("channel", "join", "ops")
	if r := alice.must("channel", "members", "ops"); r.stdout != "@alice (owner)\n@bob\n" {
		t.Errorf("got members %q", r.stdout)
	}
	if r := bob.must("channel", "list"); !strings.HasPrefix(r.stdout, "#ops\t") {
		t.Errorf("got channel list %q", r.stdout)
	}

	f, err := os.Open(speechFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if r := alice.run(f, "send", "-", "--to", "#ops"); r.code != exitOK {
		t.Fatalf("send -: got exit %d, stderr %q", r.code, r.stderr)
	}
	out := t.TempDir()
	r := bob.must("fetch", "--out", out, "--to", "#ops")
	if !strings.HasPrefix(r.stdout, filepath.Join(out, "ops")+"/") {
		t.Errorf("got %q, want a file under %s/ops", r.stdout, out)
	}
	bob.must("channel", "leave", "#ops")
}

func TestSendRejectsBadInput(t *testing.T) {
	srv := startRelay(t, relay.Config{MaxMessageDuration: 2 * time.Second})
	alice := user(t, srv, "alice")
	bob := user(t, srv, "bob")
	dir := t.TempDir()
	wav, err := os.ReadFile(speechFile)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"notes.txt": []byte("shopping list\n"),
		"empty.wav": nil,
		"cut.wav":   wav[:30],
		"song.mp3":  append([]byte("ID3\x04"), make([]byte, 64)...),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "text", args: []string{filepath.Join(dir, "notes.txt"), "--to", "@bob"},
			want: "notes.txt: not an audio file (expected WAV or Ogg Opus)"},
		{name: "mp3", args: []string{filepath.Join(dir, "song.mp3"), "--to", "@bob"}, want: "not an audio file"},
		{name: "empty", args: []string{filepath.Join(dir, "empty.wav"), "--to", "@bob"}, want: "empty.wav: empty audio file\n"},
		{name: "truncated", args: []string{filepath.Join(dir, "cut.wav"), "--to", "@bob"}, want: "cut.wav: truncated: the input ends inside the fmt chunk"},
		{name: "missing file", args: []string{filepath.Join(dir, "none.wav"), "--to", "@bob"}, want: "no such file"},
		{name: "too long", args: []string{speechFile, "--to", "@bob"}, want: "speech-16k.wav lasts 5.801s, longer than the relay's limit of 2s: split it or shorten it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := alice.run(nil, append([]string{"send"}, tt.args...)...)
			if r.code != exitError {
				t.Errorf("got exit %d, want %d", r.code, exitError)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", r.stderr, tt.want)
			}
			if n := strings.Count(r.stderr, "\n"); n != 1 {
				t.Errorf("got %d lines on stderr, want 1", n)
			}
			if r.stdout != "" {
				t.Errorf("got stdout %q, want none", r.stdout)
			}
		})
	}
	if r := bob.must("fetch", "--out", t.TempDir(), "--all"); r.stdout != "" {
		t.Errorf("got %q after rejected sends, want nothing stored", r.stdout)
	}
}
