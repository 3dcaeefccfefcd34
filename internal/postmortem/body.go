package postmortem

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// timeFormat is the one format times take in the body; the front matter uses RFC 3339.
const timeFormat = "2006-01-02 15:04:05 UTC"

// writeBody writes the readable half of the record: summary, impact, timeline,
// notifications, decisions, root cause, resolution and action items. It only reads the
// (already redacted) record, and writes nothing that is not in it.
func writeBody(b *bytes.Buffer, r Record) {
	fmt.Fprintf(b, "# Post-mortem: %s\n\n", inline(r.Title))

	b.WriteString("| | |\n|---|---|\n")
	row(b, "Incident", r.Incident.Namespace+"/"+r.Incident.Name)
	row(b, "Severity", r.Severity)
	row(b, "Category", r.Category)
	row(b, "Service", r.Service)
	row(b, "Customer", r.Customer)
	row(b, "Commander", r.Assignee)
	row(b, "Acknowledged by", r.AcknowledgedBy)
	row(b, "Triggered", formatTime(r.Times.Triggered))
	row(b, "Acknowledged", formatTime(r.Times.Acknowledged))
	row(b, "Resolved", formatTime(r.Times.Resolved))
	row(b, "Time to acknowledge", formatDuration(r.Times.MTTA))
	row(b, "Time to resolve", formatDuration(r.Times.MTTR))
	if r.ReopenCount > 0 {
		row(b, "Reopens", fmt.Sprint(r.ReopenCount))
	}
	b.WriteString("\n")

	section(b, "Summary", orNone(r.Description))

	b.WriteString("## Impact\n\n")
	impact := false
	if r.Service != "" {
		fmt.Fprintf(b, "- Service: %s\n", inline(r.Service))
		impact = true
	}
	if r.Customer != "" {
		fmt.Fprintf(b, "- Customer: %s\n", inline(r.Customer))
		impact = true
	}
	if a := r.Affected; a != nil {
		for _, l := range []struct {
			name  string
			items []string
		}{{"Apps", a.Apps}, {"Servers", a.Servers}, {"Networks", a.Networks}} {
			if len(l.items) > 0 {
				fmt.Fprintf(b, "- %s: %s\n", l.name, inline(strings.Join(l.items, ", ")))
				impact = true
			}
		}
	}
	if r.Times.MTTR != nil {
		fmt.Fprintf(b, "- Duration: %s\n", formatDuration(r.Times.MTTR))
		impact = true
	}
	if a := r.Alerts; a != nil && a.Count > 0 {
		fmt.Fprintf(b, "- Alerts: %d\n", a.Count)
		impact = true
	}
	if len(r.StakeholderGroups) > 0 {
		fmt.Fprintf(b, "- Stakeholders informed: %s\n", inline(strings.Join(r.StakeholderGroups, ", ")))
		impact = true
	}
	if !impact {
		b.WriteString("_None recorded._\n")
	}
	b.WriteString("\n")

	b.WriteString("## Timeline\n\n")
	if len(r.Timeline) == 0 {
		b.WriteString("_None recorded._\n\n")
	} else {
		b.WriteString("| Time | Event | Actor | Details |\n|---|---|---|---|\n")
		for _, e := range r.Timeline {
			cells(b, e.Time.Format(timeFormat), e.Type, e.Actor, e.Message)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Notifications\n\n")
	if len(r.Notifications) == 0 {
		b.WriteString("_None recorded._\n\n")
	} else {
		b.WriteString("| Time | Event | Notified | Channel | Result | Attempts | Details |\n|---|---|---|---|---|---|---|\n")
		for _, n := range r.Notifications {
			details := n.Reason
			if n.Message != "" {
				details = strings.TrimPrefix(details+"; "+n.Message, "; ")
			}
			cells(b, formatTime(n.Time), n.Event, n.Target, n.Channel, n.Result, fmt.Sprint(n.Attempts), details)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Decisions\n\n")
	if len(r.Decisions) == 0 {
		b.WriteString("_None recorded._\n\n")
	} else {
		b.WriteString("Each decision's policy input is in the front matter (`decisions[].input`), so it can be replayed.\n\n")
		b.WriteString("| Time | Point | Decision | Outcome |\n|---|---|---|---|\n")
		for _, d := range r.Decisions {
			cells(b, formatTime(d.Time), d.Point, "`"+strings.ReplaceAll(d.ID, "`", "")+"`", d.Summary)
		}
		b.WriteString("\n")
	}

	section(b, "Root cause", orNone(r.RootCause))
	section(b, "Resolution", orNone(r.Resolution))

	b.WriteString("## Action items\n\n")
	if len(r.ActionItems) == 0 {
		b.WriteString("_None recorded._\n")
	}
	for _, a := range r.ActionItems {
		box := " "
		if a.Done {
			box = "x"
		}
		fmt.Fprintf(b, "- [%s] %s", box, inline(a.Description))
		if a.Owner != "" {
			fmt.Fprintf(b, " (owner: %s)", inline(a.Owner))
		}
		if a.URL != "" {
			fmt.Fprintf(b, " <%s>", inline(strings.NewReplacer("<", "%3C", ">", "%3E").Replace(a.URL)))
		}
		b.WriteString("\n")
	}

	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(b, "- %s", formatTime(n.Time))
			if n.Author != "" {
				fmt.Fprintf(b, ", %s", inline(n.Author))
			}
			fmt.Fprintf(b, ": %s\n", inline(n.Text))
		}
	}
}

func section(b *bytes.Buffer, title, text string) {
	fmt.Fprintf(b, "## %s\n\n%s\n\n", title, strings.TrimRight(text, "\n"))
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "_None recorded._"
	}
	return s
}

func row(b *bytes.Buffer, name, value string) {
	if value != "" {
		cells(b, name, value)
	}
}

// cells writes one table row; a pipe or a line break in a value would end the cell or
// the table, so they are escaped.
func cells(b *bytes.Buffer, values ...string) {
	b.WriteString("|")
	for _, v := range values {
		b.WriteString(" ")
		b.WriteString(cell(v))
		b.WriteString(" |")
	}
	b.WriteString("\n")
}

var cellEscaper = strings.NewReplacer("|", `\|`, "\r\n", "<br>", "\n", "<br>", "\r", "<br>")

func cell(s string) string { return cellEscaper.Replace(strings.TrimSpace(s)) }

// inline keeps a value on one line, where a line break would start a new list item or
// heading.
func inline(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func formatDuration(d *time.Duration) string {
	if d == nil {
		return ""
	}
	return d.String()
}
