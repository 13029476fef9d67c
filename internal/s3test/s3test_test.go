package s3test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	client := &http.Client{Timeout: 2 * time.Second}
	if st, err := os.Stat(filepath.Join(s.Dir, s.Bucket)); err != nil || !st.IsDir() {
		t.Fatalf("bucket dir: stat error %v, want a directory", err)
	}
	if err := get(client, s.Endpoint); err != nil {
		t.Fatalf("GET after Start: %v", err)
	}

	s.Stop()
	if err := get(client, s.Endpoint); err == nil {
		t.Error("GET after Stop: got a response, want a connection error")
	}

	endpoint := s.Endpoint
	s.Restart()
	if s.Endpoint != endpoint {
		t.Errorf("endpoint after Restart = %s, want %s", s.Endpoint, endpoint)
	}
	if err := get(client, s.Endpoint); err != nil {
		t.Errorf("GET after Restart: %v", err)
	}
}

func TestStartRandomKeys(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.AccessKey == b.AccessKey || a.SecretKey == b.SecretKey {
		t.Errorf("two servers share keys: got %s/%s and %s/%s, want distinct", a.AccessKey, a.SecretKey, b.AccessKey, b.SecretKey)
	}
	if a.Endpoint == b.Endpoint {
		t.Errorf("two servers share endpoint %s, want distinct", a.Endpoint)
	}
}

func get(client *http.Client, url string) error {
	resp, err := client.Get(url + "/")
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
