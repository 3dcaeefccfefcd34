package localcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxSinkBody bounds what the sink reads of one delivery; real receivers cap
// payloads too, and a notifier that sends more has a bug worth seeing.
const maxSinkBody = 1 << 20

// summaryFields are the top-level JSON fields the console line shows, in this order:
// what Klaxon's webhook sends, and what chat and paging payloads call their headline.
var summaryFields = []string{"event", "event_action", "severity", "title", "summary", "text"}

// Sink is a local notification receiver for `make run`: notification channels point
// their URL at it, and every delivery is printed as one line and appended as one JSON
// line to a file, so notifications can be seen and checked without Slack or a pager.
// It answers every POST with 200 and anything else with 405.
type Sink struct {
	listener net.Listener
	server   *http.Server
	url      string
	served   chan struct{} // closed when Serve returns

	mu   sync.Mutex // serializes a delivery's writes to out and file
	out  io.Writer
	file *os.File

	closeOnce sync.Once
	closeErr  error
}

// delivery is one line of the JSONL file.
type delivery struct {
	Time    time.Time         `json:"time"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"` // the JSON body as sent, or else the body as a string
}

// StartSink listens on addr (e.g. "127.0.0.1:0" for a free port) and serves until
// Close. Each delivery is printed to out (nil: not printed) and appended to file
// (empty: not recorded; created with its directory if missing, never truncated, so
// deliveries of earlier runs stay). The recorded headers are Content-Type,
// Idempotency-Key and X-Klaxon-*: what tells deliveries apart, without the
// credentials some channels send.
func StartSink(addr string, file string, out io.Writer) (*Sink, error) {
	s := &Sink{out: out, served: make(chan struct{})}
	if s.out == nil {
		s.out = io.Discard
	}
	if file != "" {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, fmt.Errorf("notification sink: %w", err)
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("notification sink: %w", err)
		}
		s.file = f
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if s.file != nil {
			_ = s.file.Close()
		}
		return nil, fmt.Errorf("notification sink: %w", err)
	}
	s.listener = l
	s.url = "http://" + reachableAddr(l.Addr().(*net.TCPAddr))
	s.server = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(s.served)
		_ = s.server.Serve(l) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// reachableAddr turns a listen address into one a client can dial: a sink on all
// interfaces (":8099") is reached on the loopback address.
func reachableAddr(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// URL returns the sink's base URL, e.g. http://127.0.0.1:8099; any path under it
// receives deliveries, so each channel can have a path of its own.
func (s *Sink) URL() string { return s.url }

// Close stops the server, waiting up to five seconds for deliveries in progress,
// and closes the file. It is idempotent.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.server.Shutdown(ctx)
		<-s.served
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.file != nil {
			err = errors.Join(err, s.file.Close())
			s.file = nil
		}
		s.closeErr = err
	})
	return s.closeErr
}

func (s *Sink) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "the notification sink accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSinkBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, fmt.Sprintf("body over %d bytes", maxSinkBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}

	d := delivery{Time: time.Now().UTC(), Path: r.URL.Path, Headers: recordedHeaders(r.Header)}
	var compact bytes.Buffer
	if json.Valid(body) && json.Compact(&compact, body) == nil {
		d.Body = json.RawMessage(compact.Bytes()) // compacted: one delivery, one line
	} else {
		d.Body = string(body)
	}
	var line bytes.Buffer
	enc := json.NewEncoder(&line) // Encode ends the line with '\n'
	enc.SetEscapeHTML(false)      // keep <, > and & of the body as sent
	if err := enc.Encode(d); err != nil {
		http.Error(w, "record delivery: "+err.Error(), http.StatusInternalServerError)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "notification %s %s %s %s\n",
		d.Time.Local().Format(time.TimeOnly), r.Method, r.URL.Path, summarize(body, r.Header.Get("Content-Type")))
	if s.file != nil {
		// One write per line, so a crash leaves at most the last line torn.
		if _, err := s.file.Write(line.Bytes()); err != nil {
			http.Error(w, "record delivery: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// recordedHeaders keeps the headers that tell deliveries apart; the rest (and
// Authorization in particular) stays out of the file.
func recordedHeaders(h http.Header) map[string]string {
	kept := map[string]string{}
	for name, values := range h {
		if name == "Content-Type" || name == "Idempotency-Key" || strings.HasPrefix(name, "X-Klaxon-") {
			kept[name] = strings.Join(values, ", ")
		}
	}
	return kept
}

// summarize describes a body in a few words for the console: the summaryFields of a
// JSON object that has them, or else its size and type.
func summarize(body []byte, contentType string) string {
	var obj map[string]any
	if json.Unmarshal(body, &obj) == nil {
		var parts []string
		for _, field := range summaryFields {
			switch v := obj[field].(type) {
			case string:
				parts = append(parts, fmt.Sprintf("%s=%q", field, shorten(v)))
			case float64, bool:
				parts = append(parts, fmt.Sprintf("%s=%v", field, v))
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, " ")
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Sprintf("(JSON object, %d bytes, fields %s)", len(body), shorten(strings.Join(keys, ",")))
	}
	if contentType == "" {
		contentType = "no content type"
	}
	return fmt.Sprintf("(%d bytes, %s)", len(body), contentType)
}

// shorten keeps a console line to one line of reasonable length.
func shorten(s string) string {
	const limit = 80
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		return string(r[:limit-1]) + "…"
	}
	return s
}
