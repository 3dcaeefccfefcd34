package intake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// alertmanagerVersion is the webhook payload version Alertmanager has sent since 0.6;
// v0.28 still sends it.
const alertmanagerVersion = "4"

// parseAlertmanager reads the Alertmanager webhook payload: one notification for an
// aggregation group, with the group's alerts (firing and resolved) in alerts[].
//
// A well-formed payload is decoded into structs (parseAlertmanagerFast); anything
// that path declines is decoded generically and walked by hand, so that every error
// names its exact place ("alerts[3].labels.team: expected a string"), which
// encoding/json's type errors do not.
func parseAlertmanager(spec klaxonv1.AlertSourceSpec, contentType string, body []byte, now time.Time) ([]Alert, error) {
	if _, err := checkJSONContentType(contentType, "application/json"); err != nil {
		return nil, err
	}
	if alerts, ok := parseAlertmanagerFast(spec, body, now); ok {
		return alerts, nil
	}
	doc, err := decodeJSON(body, "")
	if err != nil {
		return nil, err
	}
	return parseAlertmanagerGeneric(spec, doc, now)
}

// parseAlertmanagerGeneric walks a payload decoded generically.
func parseAlertmanagerGeneric(spec klaxonv1.AlertSourceSpec, doc any, now time.Time) ([]Alert, error) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, badRequest("", "expected a JSON object (an Alertmanager webhook payload), got %s", kindOf(doc))
	}
	if err := checkAlertmanagerVersion(obj); err != nil {
		return nil, err
	}

	groupKey, err := optString(obj, "groupKey", "")
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"status", "receiver", "externalURL"} {
		if _, err := optString(obj, key, ""); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["truncatedAlerts"]; ok && v != nil {
		if n, ok := v.(json.Number); !ok || !isCount(n) {
			return nil, badRequest("truncatedAlerts", "expected a non-negative integer, got %s", kindOf(v))
		}
	}
	for _, key := range []string{"groupLabels", "commonLabels"} {
		if _, _, err := optStringMap(obj, key, ""); err != nil {
			return nil, err
		}
	}
	common, _, err := optStringMap(obj, "commonAnnotations", "")
	if err != nil {
		return nil, err
	}

	raw, ok := obj["alerts"]
	if !ok || raw == nil {
		return nil, badRequest("alerts", "missing; an Alertmanager payload carries its alerts in alerts[]")
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, badRequest("alerts", "expected an array, got %s", kindOf(raw))
	}
	alerts := make([]Alert, 0, len(list))
	for i, item := range list {
		a, err := alertmanagerAlert(spec, item, fmt.Sprintf("alerts[%d]", i), groupKey, common, now)
		if err != nil {
			return nil, err
		}
		alerts = append(alerts, a)
	}
	return alerts, nil
}

func checkAlertmanagerVersion(obj map[string]any) error {
	v, ok := obj["version"]
	if !ok || v == nil {
		return badRequest("version", "missing; Klaxon reads the Alertmanager webhook payload version %q", alertmanagerVersion)
	}
	s, ok := v.(string)
	if !ok {
		return badRequest("version", "expected a string, got %s", kindOf(v))
	}
	if s != alertmanagerVersion {
		// Grafana's webhook contact point sends a look-alike with version "1"; it
		// belongs on a Generic source.
		return badRequest("version", "unsupported version %s; Klaxon reads the Alertmanager webhook payload version %q (use a Generic source for other senders)", quoteShort(s), alertmanagerVersion)
	}
	return nil
}

// alertmanagerAlert reads one element of alerts[].
func alertmanagerAlert(spec klaxonv1.AlertSourceSpec, item any, at, groupKey string, common map[string]string, now time.Time) (Alert, error) {
	obj, ok := item.(map[string]any)
	if !ok {
		return Alert{}, badRequest(at, "expected an object, got %s", kindOf(item))
	}
	var a Alert
	status, err := optString(obj, "status", at)
	if err != nil {
		return Alert{}, err
	}
	labels, present, err := optStringMap(obj, "labels", at)
	if err != nil {
		return Alert{}, err
	}
	if !present {
		return Alert{}, badRequest(field(at, "labels"), "missing; every Alertmanager alert has labels")
	}
	if a.Annotations, _, err = optStringMap(obj, "annotations", at); err != nil {
		return Alert{}, err
	}
	if a.StartsAt, err = optTime(obj, "startsAt", at); err != nil {
		return Alert{}, err
	}
	if a.EndsAt, err = optTime(obj, "endsAt", at); err != nil {
		return Alert{}, err
	}
	if a.GeneratorURL, err = optString(obj, "generatorURL", at); err != nil {
		return Alert{}, err
	}
	if a.Fingerprint, err = optString(obj, "fingerprint", at); err != nil {
		return Alert{}, err
	}
	a.Labels = labels
	return finishAlertmanagerAlert(spec, a, status, at, groupKey, common, now)
}

// finishAlertmanagerAlert derives what an alert's members imply (status, defaults,
// title, group key) once they are read, by either path.
func finishAlertmanagerAlert(spec klaxonv1.AlertSourceSpec, a Alert, status, at, groupKey string, common map[string]string, now time.Time) (Alert, error) {
	labels := a.Labels
	switch Status(status) {
	case StatusFiring, StatusResolved:
		a.Status = Status(status)
	case "":
		// Alertmanager derives the status from endsAt; do the same when it is absent.
		a.Status = StatusFiring
		if !a.EndsAt.IsZero() && !a.EndsAt.After(now) {
			a.Status = StatusResolved
		}
	default:
		return Alert{}, badRequest(field(at, "status"), `expected "firing" or "resolved", got %s`, quoteShort(status))
	}
	if a.StartsAt.IsZero() {
		a.StartsAt = now
	}
	if a.Status == StatusResolved && a.EndsAt.IsZero() {
		a.EndsAt = now
	}
	if strings.TrimSpace(a.Fingerprint) == "" {
		a.Fingerprint = LabelsFingerprint(labels)
	}

	a.Title = firstNonBlank(a.Annotations["summary"], labels["alertname"], common["summary"], "alert "+a.Fingerprint)
	a.Description = firstNonBlank(a.Annotations["description"], a.Annotations["message"])
	a.Severity = labels["severity"]
	a.Service = firstNonBlank(labels["service"], labels["job"])

	// Without groupBy the incident follows Alertmanager's own grouping.
	senderKey := groupKey
	if senderKey == "" {
		senderKey = a.Fingerprint
	}
	a.GroupKey = GroupKey(spec.GroupBy, labels, senderKey)
	return a, nil
}

func firstNonBlank(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

func isCount(n json.Number) bool {
	i, err := strconv.ParseInt(n.String(), 10, 64)
	return err == nil && i >= 0
}
