package localcluster

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is the sink's console: the server writes from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func post(t *testing.T, url, contentType, body string, headers map[string]string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", url, resp.Status)
	}
}

// readDeliveries parses the JSONL file line by line.
func readDeliveries(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		var d map[string]any
		if err := json.Unmarshal(lines.Bytes(), &d); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", len(out)+1, err, lines.Text())
		}
		out = append(out, d)
	}
	return out
}

func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSink(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "state", "notifications.jsonl")
	var console lockedBuffer
	s, err := StartSink("127.0.0.1:0", file, &console)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	page := `{"event":"incident.triggered","title":"Database down","severity":"SEV1","incident":{"name":"db-down"}}`
	post(t, s.URL()+"/webhook/ops", "application/json", page, map[string]string{
		"Idempotency-Key": "db-down/0/ops/triggered",
		"X-Klaxon-Event":  "incident.triggered",
		"Authorization":   "Bearer secret-token",
	})
	// Indented, as a person would write it; recorded on one line.
	chat := "{\n  \"text\": \"SEV1 <db-down> & friends\",\n  \"blocks\": []\n}"
	post(t, s.URL()+"/slack/T0/B0", "application/json", chat, nil)

	resp, err := http.Get(s.URL() + "/webhook/ops")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s, want 405", resp.Status)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	got := readDeliveries(t, file)
	if len(got) != 2 {
		t.Fatalf("%d deliveries recorded, want 2", len(got))
	}
	for i, want := range []struct {
		path    string
		body    string
		headers map[string]any
	}{
		{"/webhook/ops", page, map[string]any{
			"Content-Type":    "application/json",
			"Idempotency-Key": "db-down/0/ops/triggered",
			"X-Klaxon-Event":  "incident.triggered",
		}},
		{"/slack/T0/B0", chat, map[string]any{"Content-Type": "application/json"}},
	} {
		d := got[i]
		if d["path"] != want.path {
			t.Errorf("delivery %d: path %v, want %s", i+1, d["path"], want.path)
		}
		if !reflect.DeepEqual(d["body"], jsonValue(t, want.body)) {
			t.Errorf("delivery %d: body %v, want %s", i+1, d["body"], want.body)
		}
		if !reflect.DeepEqual(d["headers"], want.headers) {
			t.Errorf("delivery %d: headers %v, want %v", i+1, d["headers"], want.headers)
		}
		if _, ok := d["time"].(string); !ok {
			t.Errorf("delivery %d: no time", i+1)
		}
	}

	printed := console.String()
	for _, want := range []string{
		"POST /webhook/ops", `event="incident.triggered"`, `title="Database down"`,
		"POST /slack/T0/B0", `text="SEV1 <db-down> & friends"`,
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("console output lacks %q:\n%s", want, printed)
		}
	}
	if n := strings.Count(printed, "\n"); n != 2 {
		t.Errorf("console has %d lines, want one per delivery:\n%s", n, printed)
	}
}

func TestSinkAppendsAcrossRunsAndKeepsNonJSON(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "notifications.jsonl")
	for _, body := range []string{"first run", "second run"} {
		s, err := StartSink("127.0.0.1:0", file, nil)
		if err != nil {
			t.Fatal(err)
		}
		post(t, s.URL()+"/email", "text/plain", body, nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got := readDeliveries(t, file)
	if len(got) != 2 || got[0]["body"] != "first run" || got[1]["body"] != "second run" {
		t.Errorf("deliveries = %v, want the two plain-text bodies in order", got)
	}
}
