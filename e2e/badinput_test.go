package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// checkFailure asserts that r is a failed command with a one-line error
// that contains each of words.
func checkFailure(t *testing.T, r result, words ...string) {
	t.Helper()
	if r.Code == 0 {
		t.Fatalf("exit 0, want failure; stdout %q", r.Stdout)
	}
	msg := strings.TrimSpace(r.Stderr)
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("stderr %q, want exactly one line", r.Stderr)
	}
	for _, w := range words {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

// writeFile writes data to a new file in the test's temporary directory.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSendBadInput(t *testing.T) {
	relay := startRelay(t, t.TempDir(), "--max-message-duration", "2s")
	alice := newUser(t, relay, "alice")
	bob := newUser(t, relay, "bob")

	speech, err := os.ReadFile(speechFile)
	if err != nil {
		t.Fatal(err)
	}
	alaw := filepath.Join(t.TempDir(), "alaw.wav")
	if out, err := exec.Command("sox", speechFile, "-e", "a-law", alaw).CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}

	short := filepath.Join(t.TempDir(), "short.wav")
	if out, err := exec.Command("sox", speechFile, short, "trim", "0", "1").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}

	tests := []struct {
		name  string
		args  []string
		words []string
	}{
		{"text file", []string{"send", writeFile(t, "notes.txt", []byte("meeting at noon\n")), "--to", "@bob"}, []string{"notes.txt"}},
		{"empty file", []string{"send", writeFile(t, "empty.wav", nil), "--to", "@bob"}, []string{"empty.wav"}},
		{"truncated header", []string{"send", writeFile(t, "cut.wav", speech[:30]), "--to", "@bob"}, []string{"cut.wav"}},
		{"truncated data", []string{"send", writeFile(t, "half.wav", speech[:len(speech)/2]), "--to", "@bob"}, []string{"half.wav"}},
		{"a-law WAV", []string{"send", alaw, "--to", "@bob"}, []string{"alaw.wav"}},
		{"too long", []string{"send", speechFile, "--to", "@bob"}, []string{"limit"}},
		{"unknown recipient", []string{"send", short, "--to", "@nobody"}, []string{"nobody"}},
		{"bad recipient", []string{"send", short, "--to", "bob"}, []string{"bob"}},
		{"missing file", []string{"send", filepath.Join(t.TempDir(), "nope.wav"), "--to", "@bob"}, []string{"nope.wav"}},
		{"unknown channel", []string{"send", short, "--to", "#nowhere"}, []string{"nowhere"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFailure(t, vm(t, alice, tt.args...), tt.words...)
		})
	}

	if files := fetchFiles(t, bob, t.TempDir(), "--all"); len(files) != 0 {
		t.Errorf("bob fetched %v after rejected sends, want nothing stored", files)
	}
}

func TestSendUnreachableRelay(t *testing.T) {
	relay := startRelay(t, t.TempDir())
	alice := newUser(t, relay, "alice")
	newUser(t, relay, "bob")
	relay.Stop(t)

	r := vm(t, alice, "send", speechFile, "--to", "@bob")
	checkFailure(t, r, relay.Addr)
}
