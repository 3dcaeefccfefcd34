package localcluster

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Webhook serving files, named as controller-runtime's webhook server reads them.
const (
	webhookCertName = "tls.crt"
	webhookKeyName  = "tls.key"
)

// InstallWebhooks lets the API server call admission webhooks served by this process
// on 127.0.0.1:port. It issues a serving certificate from the cluster's CA into
// Dir/webhook (reused across restarts) and applies the webhook configurations in
// manifestsFile (as controller-gen writes them, with service references) with each
// service reference replaced by https://127.0.0.1:port<path>, the CA as caBundle, and
// the names prefixed as a deployment would ("klaxon-"). It returns the directory to
// serve from.
func (c *Cluster) InstallWebhooks(ctx context.Context, manifestsFile string, port int) (string, error) {
	dir := filepath.Join(c.dir, "webhook")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "klaxon-webhook"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, err := ensureLeaf(c.pki.ca, serving, filepath.Join(dir, webhookCertName), filepath.Join(dir, webhookKeyName), time.Now()); err != nil {
		return "", fmt.Errorf("webhook serving certificate: %w", err)
	}

	ms, err := readManifestFile(manifestsFile)
	if err != nil {
		return "", err
	}
	base := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for _, m := range ms {
		if err := pointAtLocal(m.obj, base, c.pki.caPEM); err != nil {
			return "", fmt.Errorf("%s: %w", m.source, err)
		}
	}
	a, err := newApplier(c.cfg)
	if err != nil {
		return "", err
	}
	if _, err := a.apply(ctx, ms); err != nil {
		return "", err
	}
	return dir, nil
}

// pointAtLocal rewrites one webhook configuration to call base<path> with caBundle.
func pointAtLocal(obj *unstructured.Unstructured, base string, caPEM []byte) error {
	obj.SetName("klaxon-" + obj.GetName())
	hooks, _, err := unstructured.NestedSlice(obj.Object, "webhooks")
	if err != nil {
		return err
	}
	for i, h := range hooks {
		hook, ok := h.(map[string]any)
		if !ok {
			return fmt.Errorf("webhooks[%d] is not an object", i)
		}
		path, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "path")
		if err := unstructured.SetNestedField(hook, map[string]any{
			"url":      base + path,
			"caBundle": base64.StdEncoding.EncodeToString(caPEM),
		}, "clientConfig"); err != nil {
			return err
		}
		hooks[i] = hook
	}
	return unstructured.SetNestedSlice(obj.Object, hooks, "webhooks")
}
