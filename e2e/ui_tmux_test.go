package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vm-voice/vm/audio"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/config"
	"github.com/vm-voice/vm/proto"
)

// pacedMic is a microphone that returns pcm one 20 ms frame per 20 ms,
// then silence.
type pacedMic struct {
	pcm  []float32
	pos  int
	tick *time.Ticker
}

func newPacedMic(pcm []float32) *pacedMic {
	return &pacedMic{pcm: pcm, tick: time.NewTicker(proto.FrameDuration)}
}

func (m *pacedMic) Read(frame []float32) error {
	<-m.tick.C
	n := copy(frame, m.pcm[min(m.pos, len(m.pcm)):])
	clear(frame[n:])
	m.pos += len(frame)
	return nil
}

func (m *pacedMic) Close() error {
	m.tick.Stop()
	return nil
}

// tmuxPane is a tmux server on a private socket running one window.
type tmuxPane struct {
	t      *testing.T
	socket string
	env    []string
}

// tmux runs a tmux command against the pane's server.
func (p *tmuxPane) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", p.socket, "-f", "/dev/null"}, args...)...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// capture returns the visible text of the pane.
func (p *tmuxPane) capture() string {
	p.t.Helper()
	out, err := p.tmux("capture-pane", "-p", "-t", "vm")
	if err != nil {
		p.t.Fatalf("tmux capture-pane: %v: %s", err, out)
	}
	return out
}

// waitFor polls the pane every 50 ms, at most for 20 s, until ok accepts
// its text, and returns that text.
func (p *tmuxPane) waitFor(what string, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		screen := p.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the pane did not show %s within 20 s; it shows:\n%s", what, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitText waits until the pane shows every one of want.
func (p *tmuxPane) waitText(want ...string) string {
	p.t.Helper()
	return p.waitFor(fmt.Sprintf("%q", want), func(screen string) bool {
		for _, w := range want {
			if !strings.Contains(screen, w) {
				return false
			}
		}
		return true
	})
}

// sendKeys types keys into the pane, in tmux's key names.
func (p *tmuxPane) sendKeys(keys ...string) {
	p.t.Helper()
	if out, err := p.tmux(append([]string{"send-keys", "-t", "vm"}, keys...)...); err != nil {
		p.t.Fatalf("tmux send-keys %q: %v: %s", keys, err, out)
	}
}

// startTmux runs command in a shell in a detached 100x30 tmux window on a
// private socket, with the extra environment env, and kills the tmux
// server when the test ends.
func startTmux(t *testing.T, command string, env []string) *tmuxPane {
	t.Helper()
	p := &tmuxPane{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TMUX=") && !strings.HasPrefix(kv, "TMUX_PANE=") {
			p.env = append(p.env, kv)
		}
	}
	p.env = append(p.env, "SHELL=/bin/sh")
	p.env = append(p.env, env...)
	if out, err := p.tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "vm", command); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { p.tmux("kill-server") })
	return p
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// paneAudioEnv returns the audio environment of the UI: a private rig of
// virtual devices when they are available, so talk works, and otherwise
// a PulseAudio server address where nothing listens, so the UI reports
// the missing microphone. Either way no other sound server is reached.
func paneAudioEnv(t *testing.T) []string {
	rig, err := newAudioRig(t)
	if err != nil {
		t.Logf("no virtual audio devices (%v): the UI runs without a microphone", err)
		return []string{"PULSE_SERVER=unix:" + filepath.Join(t.TempDir(), "absent")}
	}
	return rig.Env()
}

// TestUIInTmux drives the vm binary's terminal UI in tmux against a relay
// process: the conversation list, another user's live talk and stored
// message, the talk key, and quitting back to the shell's screen.
func TestUIInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not on PATH: scripts/deps.sh --test installs it")
	}
	dir := t.TempDir()
	relay := startRelay(t, filepath.Join(dir, "relay"))
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")
	carol := newUser(t, relay, "carol")
	mustVM(t, alice, "channel", "create", "ops")
	mustVM(t, carol, "channel", "join", "ops")
	speech := loadSpeech(t, speechFile)
	hello := writeWAVFile(t, dir, "hello.wav", speech.Samples[:audio.SampleRate])
	mustVM(t, carol, "send", hello, "--to", "@alice")

	command := fmt.Sprintf("echo 'shell screen before vm'; %s --home %s --talk-mode toggle; echo \"vm exited with status $?\"; exec sleep 600",
		shellQuote(filepath.Join(binDir, "vm")), shellQuote(alice))
	pane := startTmux(t, command, paneAudioEnv(t))
	defer func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(alice, "vm.log"))
			t.Logf("alice's vm.log:\n%s", log)
		}
	}()
	pane.waitText("@carol", "#ops", "as @alice")

	// bob talks to alice for the first time: the UI shows him talking,
	// then his stored message.
	bobEngine, err := client.NewEngine(t.Context(), client.EngineOptions{
		Paths: config.Paths{Home: bob}, Relay: relay.Addr,
		OpenCapture:  func(string) (audio.FrameSource, error) { return newPacedMic(speech.Samples), nil },
		OpenPlayback: func(string) (audio.FrameSink, error) { return nil, audio.ErrNoOutputDevice },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bobEngine.Close()
	waitEngineEvent(t, bobEngine, 20*time.Second, "connection", func(ev client.EngineEvent) bool {
		return ev.Kind == client.EventConnected
	})
	if err := bobEngine.StartTalk(proto.DirectConversation("alice", "bob")); err != nil {
		t.Fatalf("bob StartTalk: %v", err)
	}
	pane.waitText("@bob", ")))")
	if err := bobEngine.StopTalk(); err != nil {
		t.Fatalf("bob StopTalk: %v", err)
	}
	pane.waitText("new message from @bob")

	// Space starts talk in toggle mode: the status bar shows the talk
	// timer. Without a microphone the device check at start has shown
	// why, and the notice line reports that talk is off.
	pane.sendKeys("Space")
	screen := pane.waitFor("talk or why it is off", func(s string) bool {
		return strings.Contains(s, "● TALK 0:") ||
			strings.Contains(s, "microphone unavailable") && strings.Contains(s, "cannot talk:")
	})
	t.Logf("after space:\n%s", screen)
	if strings.Contains(screen, "● TALK 0:") {
		// Presses closer than 700 ms count as key repeat in toggle mode.
		time.Sleep(800 * time.Millisecond)
		pane.sendKeys("Space")
		pane.waitFor("talk stopped", func(s string) bool { return !strings.Contains(s, "● TALK") })
	}

	pane.sendKeys("q")
	screen = pane.waitText("vm exited with status")
	if !strings.Contains(screen, "vm exited with status 0") {
		t.Errorf("vm did not exit with status 0; the pane shows:\n%s", screen)
	}
	if !strings.Contains(screen, "shell screen before vm") || strings.Contains(screen, "Conversations") {
		t.Errorf("the pane does not show the shell's screen without the UI after quit:\n%s", screen)
	}
	if out, err := pane.tmux("display", "-p", "-t", "vm", "#{alternate_on}"); err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("got alternate_on %q (err %v) after quit, want 0", strings.TrimSpace(out), err)
	}
}
