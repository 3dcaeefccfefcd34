// Package respond serves the acknowledge and resolve links of a page,
// /api/v1/respond/{token}. A GET shows what the link will do and asks to confirm; a
// POST does it, as the responder the signed token names. The split matters: mail
// scanners and chat previews follow links with GET, and must not acknowledge
// incidents.
package respond

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/notify"
)

// Path is the route the handler serves.
const Path = "/api/v1/respond/{token}"

// Handler acknowledges or resolves incidents from signed links.
type Handler struct {
	// Client reads and updates incidents (uncached reads: a link is used once).
	Client client.Client
	// Keys verify tokens, the current key first, then the previous one.
	Keys [][]byte
	// Now is the clock.
	Now func() time.Time
}

// Register adds the handler to mux.
func (h *Handler) Register(handle func(pattern string, handler http.Handler)) {
	handle("GET "+Path, http.HandlerFunc(h.confirm))
	handle("POST "+Path, http.HandlerFunc(h.act))
}

// confirm shows what the link does, without doing it.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	c, status, err := h.verify(r)
	if err != nil {
		page(w, status, "This link cannot be used", err.Error(), "")
		return
	}
	page(w, http.StatusOK, fmt.Sprintf("%s incident %s/%s?", verb(c.Action), c.Namespace, c.Incident),
		fmt.Sprintf("You are about to %s this incident as %s.", strings.ToLower(verb(c.Action)), c.Responder), verb(c.Action))
}

// act acknowledges or resolves the incident.
func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	c, status, err := h.verify(r)
	if err != nil {
		page(w, status, "This link cannot be used", err.Error(), "")
		return
	}
	msg, status, err := h.apply(r.Context(), c)
	if err != nil {
		ctrl.LoggerFrom(r.Context()).Error(err, "respond link failed", "namespace", c.Namespace, "incident", c.Incident)
		page(w, status, "Not done", err.Error(), "")
		return
	}
	page(w, http.StatusOK, "Done", msg, "")
}

// verify checks the token and says which status to answer when it is refused.
func (h *Handler) verify(r *http.Request) (notify.Claims, int, error) {
	c, err := notify.Verify(h.Keys, r.PathValue("token"), h.Now())
	switch {
	case err == nil:
		return c, 0, nil
	case errors.Is(err, notify.ErrExpired):
		return c, http.StatusGone, errors.New("the link has expired; acknowledge the incident in Klaxon instead")
	case errors.Is(err, notify.ErrSignature):
		return c, http.StatusForbidden, errors.New("the link's signature is not valid")
	}
	return c, http.StatusBadRequest, errors.New("the link is malformed or incomplete")
}

// apply changes the incident's state as the responder, retrying on conflicts.
func (h *Handler) apply(ctx context.Context, c notify.Claims) (string, int, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.Incident}
	_, who, _ := strings.Cut(c.Responder, "/")
	var msg string
	status := http.StatusOK
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var inc klaxonv1.Incident
		if err := h.Client.Get(ctx, key, &inc); err != nil {
			if apierrors.IsNotFound(err) {
				status = http.StatusNotFound
				return errors.New("the incident no longer exists")
			}
			status = http.StatusServiceUnavailable
			return fmt.Errorf("reading the incident: %w", err)
		}
		if inc.Status.ReopenCount != c.ReopenCount {
			status = http.StatusConflict
			return errors.New("the incident was reopened since this page; use a link from a newer page")
		}
		state := inc.Spec.State
		switch {
		case c.Action == notify.ActionAcknowledge && state == klaxonv1.StateAcknowledged:
			msg = fmt.Sprintf("already acknowledged by %s", inc.Spec.AcknowledgedBy)
			return nil
		case state == klaxonv1.StateResolved:
			msg = "already resolved"
			return nil
		case c.Action == notify.ActionAcknowledge:
			inc.Spec.State, inc.Spec.AcknowledgedBy = klaxonv1.StateAcknowledged, who
			msg = fmt.Sprintf("acknowledged as %s", who)
		default:
			inc.Spec.State = klaxonv1.StateResolved
			if inc.Spec.AcknowledgedBy == "" {
				inc.Spec.AcknowledgedBy = who
			}
			msg = fmt.Sprintf("resolved as %s", who)
		}
		if inc.Annotations == nil {
			inc.Annotations = map[string]string{}
		}
		// Klaxon names the responder; admission trusts it to, and stamps the time.
		// The at-annotation set afresh is what names them when they made the last
		// change too (acknowledged, now resolve).
		inc.Annotations[klaxonv1.AnnotationStateChangedBy] = "Responder/" + c.Responder
		inc.Annotations[klaxonv1.AnnotationStateChangedAt] = h.Now().UTC().Format(time.RFC3339Nano)
		if err := h.Client.Update(ctx, &inc); err != nil {
			status = http.StatusServiceUnavailable
			return err
		}
		return nil
	})
	if err != nil {
		return "", status, err
	}
	return msg, http.StatusOK, nil
}

func verb(action string) string {
	if action == notify.ActionResolve {
		return "Resolve"
	}
	return "Acknowledge"
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · Klaxon</title>
<style>body{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}button{font-size:1.1rem;padding:.6rem 1.2rem}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Button}}<form method="post"><button type="submit">{{.Button}}</button></form>{{end}}
</body></html>
`))

// page answers with a small HTML page.
func page(w http.ResponseWriter, status int, title, message, button string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, struct{ Title, Message, Button string }{title, message, button})
}
