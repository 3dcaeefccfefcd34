// Package dashboard is Klaxon's read-only web view: the incidents of every tenant
// with their state, and each incident's timeline, notifications and decisions — the
// page a responder's link opens. It reads the controller's cache and changes nothing;
// acting goes through kubectl or the respond links.
package dashboard

import (
	"embed"
	"html/template"
	"net/http"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

//go:embed templates/*.html
var templatesFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago":  ago,
	"time": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).ParseFS(templatesFS, "templates/*.html"))

// Handler serves the dashboard.
type Handler struct {
	// Reader is the controller's cached client.
	Reader client.Reader
	// Now is the clock.
	Now func() time.Time
}

// Register adds the dashboard's routes.
func (h *Handler) Register(handle func(pattern string, handler http.Handler)) {
	handle("GET /{$}", http.HandlerFunc(h.list))
	handle("GET /incidents/{namespace}/{name}", http.HandlerFunc(h.incident))
	handle("GET /runbooks/{namespace}/{name}", http.HandlerFunc(h.runbook))
}

type row struct {
	klaxonv1.Incident
	Age time.Duration
}

// list shows open incidents first, most severe first, then the recently resolved.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	var list klaxonv1.IncidentList
	opts := []client.ListOption{}
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := h.Reader.List(r.Context(), &list, opts...); err != nil {
		http.Error(w, "listing incidents failed", http.StatusServiceUnavailable)
		return
	}
	now := h.Now()
	rows := make([]row, 0, len(list.Items))
	for _, inc := range list.Items {
		rows = append(rows, row{Incident: inc, Age: now.Sub(inc.CreationTimestamp.Time)})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		oi, oj := rows[i].Status.State != klaxonv1.StateResolved, rows[j].Status.State != klaxonv1.StateResolved
		if oi != oj {
			return oi
		}
		if ri, rj := rank(rows[i].Status.Severity), rank(rows[j].Status.Severity); ri != rj {
			return ri < rj
		}
		return rows[i].CreationTimestamp.After(rows[j].CreationTimestamp.Time)
	})
	render(w, "list.html", struct {
		Rows []row
		Now  time.Time
	}{rows, now})
}

func (h *Handler) incident(w http.ResponseWriter, r *http.Request) {
	var inc klaxonv1.Incident
	key := client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	if err := h.Reader.Get(r.Context(), key, &inc); err != nil {
		notFound(w, err)
		return
	}
	render(w, "incident.html", struct {
		klaxonv1.Incident
		Now time.Time
	}{inc, h.Now()})
}

func (h *Handler) runbook(w http.ResponseWriter, r *http.Request) {
	var rb klaxonv1.Runbook
	key := client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	if err := h.Reader.Get(r.Context(), key, &rb); err != nil {
		notFound(w, err)
		return
	}
	render(w, "runbook.html", rb)
}

func notFound(w http.ResponseWriter, err error) {
	if apierrors.IsNotFound(err) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	http.Error(w, "reading failed", http.StatusServiceUnavailable)
}

func render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, "rendering failed", http.StatusInternalServerError)
	}
}

func rank(s klaxonv1.Severity) int {
	if r := s.Rank(); r > 0 {
		return r
	}
	return 9
}

// ago renders a duration the way people read incident ages.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 48*time.Hour:
		return d.Round(time.Hour).String()
	}
	return d.Round(24 * time.Hour).String()
}
