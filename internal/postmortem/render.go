package postmortem

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	"go.yaml.in/yaml/v3"
)

// frontMatterDelimiter opens and closes the YAML front matter, as Jekyll, Hugo and
// GitHub's renderer expect.
const frontMatterDelimiter = "---\n"

// ErrUnsupportedSchema is returned by ParseRecord for a front matter of another schema.
var ErrUnsupportedSchema = errors.New("unsupported post-mortem schema")

// Render writes rec as Markdown: a YAML front matter holding the machine-readable record,
// then a body for people. redactor (nil for none) masks the record first, so both halves
// say the same thing. The output is deterministic: times are UTC to the second, maps are
// sorted, and nothing depends on when Render runs, so an unchanged record renders the
// same bytes and commits at most once.
func Render(rec Record, redactor *Redactor) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(normalize(rec)); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	redactor.node(&n)
	var red Record
	if err := n.Decode(&red); err != nil {
		return nil, fmt.Errorf("decode redacted record: %w", err)
	}

	var buf bytes.Buffer
	buf.WriteString(frontMatterDelimiter)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("write front matter: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write front matter: %w", err)
	}
	buf.WriteString(frontMatterDelimiter)
	buf.WriteString("\n")
	writeBody(&buf, red)
	return buf.Bytes(), nil
}

// ParseRecord reads the record back from a rendered file's front matter, for replay.
// The body is ignored: the front matter is the record.
func ParseRecord(b []byte) (Record, error) {
	fm, err := frontMatter(b)
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := yaml.Unmarshal(fm, &rec); err != nil {
		return Record{}, fmt.Errorf("parse front matter: %w", err)
	}
	if rec.Schema != SchemaV1 {
		return Record{}, fmt.Errorf("%w %q (this version reads %s)", ErrUnsupportedSchema, rec.Schema, SchemaV1)
	}
	return rec, nil
}

// frontMatter returns the YAML between a file's --- delimiters.
func frontMatter(b []byte) ([]byte, error) {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	if !bytes.HasPrefix(b, []byte(frontMatterDelimiter)) {
		return nil, errors.New("no front matter: the file does not start with ---")
	}
	rest := b[len(frontMatterDelimiter):]
	// The YAML encoder indents every nested line, so a line that is exactly "---" at
	// column 0 can only be the closing delimiter.
	end := bytes.Index(rest, []byte("\n"+frontMatterDelimiter))
	if end < 0 {
		return nil, errors.New("front matter is not closed by ---")
	}
	return rest[:end+1], nil
}

// normalize fixes what would otherwise make equal records render differently: time
// zones and sub-second precision (the API server keeps seconds), the schema, and the
// seconds that mirror MTTA and MTTR. It copies what it changes.
func normalize(rec Record) Record {
	rec.Schema = SchemaV1
	t := rec.Times
	t.Triggered, t.Reopened = utc(t.Triggered), utc(t.Reopened)
	t.Acknowledged, t.Resolved = utc(t.Acknowledged), utc(t.Resolved)
	t.MTTA, t.MTTASeconds = durationAndSeconds(t.MTTA, t.MTTASeconds)
	t.MTTR, t.MTTRSeconds = durationAndSeconds(t.MTTR, t.MTTRSeconds)
	rec.Times = t
	if a := rec.Alerts; a != nil {
		c := *a
		c.FirstSeen, c.LastSeen = utc(c.FirstSeen), utc(c.LastSeen)
		rec.Alerts = &c
	}
	if len(rec.Timeline) > 0 {
		tl := make([]TimelineEntry, len(rec.Timeline))
		for i, e := range rec.Timeline {
			e.Time = e.Time.UTC().Truncate(time.Second)
			tl[i] = e
		}
		rec.Timeline = tl
	}
	if len(rec.Notifications) > 0 {
		ns := make([]Notification, len(rec.Notifications))
		for i, n := range rec.Notifications {
			n.Time = utc(n.Time)
			ns[i] = n
		}
		rec.Notifications = ns
	}
	if len(rec.Decisions) > 0 {
		ds := make([]Decision, len(rec.Decisions))
		for i, d := range rec.Decisions {
			d.Time = utc(d.Time)
			ds[i] = d
		}
		rec.Decisions = ds
	}
	if len(rec.Notes) > 0 {
		ns := make([]Note, len(rec.Notes))
		for i, n := range rec.Notes {
			n.Time = utc(n.Time)
			ns[i] = n
		}
		rec.Notes = ns
	}
	return rec
}

func utc(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

// durationAndSeconds truncates d to the second and derives the seconds from it; with no
// duration it derives the duration from the seconds, so a hand-made record may give either.
func durationAndSeconds(d *time.Duration, s *int64) (*time.Duration, *int64) {
	switch {
	case d != nil:
		v := d.Truncate(time.Second)
		sec := int64(v / time.Second)
		return &v, &sec
	case s != nil && *s >= 0 && *s < math.MaxInt64/int64(time.Second):
		v := time.Duration(*s) * time.Second
		sec := *s
		return &v, &sec
	}
	return nil, nil
}
