package devicetest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vm-voice/vm/audio"
)

// setupErr is why the virtual devices are unavailable, or nil.
var setupErr error

func TestMain(m *testing.M) {
	setupErr = startVirtualAudio()
	if setupErr == nil {
		setupErr = audio.InitDevices()
	}
	os.Exit(m.Run())
}

// requireDevices skips the test when the virtual devices did not start.
func requireDevices(t testing.TB) {
	t.Helper()
	if setupErr != nil {
		t.Skipf("virtual audio devices unavailable: %v", setupErr)
	}
}

// virtualAudioScript returns the path of the script that starts the
// virtual devices.
func virtualAudioScript() (string, error) {
	if p := os.Getenv("VIRTUAL_AUDIO_SCRIPT"); p != "" {
		return p, nil
	}
	p, err := filepath.Abs(filepath.Join("..", "..", "scripts", "virtual-audio.sh"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no virtual audio script: set VIRTUAL_AUDIO_SCRIPT or add %s", p)
	}
	return p, nil
}

// startVirtualAudio runs the script's start command and copies the
// environment it prints (lines of the form "export NAME=VALUE") into this
// process, where PortAudio's ALSA pulse plugin and pactl read it.
func startVirtualAudio() error {
	script, err := virtualAudioScript()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script, "start")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s start: %w: %s", script, err, lastLine(stderr.String()))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	set := 0
	for sc.Scan() {
		name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if !ok {
			continue
		}
		if err := os.Setenv(name, strings.Trim(value, `"'`)); err != nil {
			return err
		}
		set++
	}
	if set == 0 {
		return fmt.Errorf("%s start printed no environment", script)
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
