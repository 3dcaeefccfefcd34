package measure

import (
	"context"
	"net"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// WriteKubeconfig writes a kubeconfig for cfg, for the controller child process.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["load"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["load"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["load"] = &clientcmdapi.Context{Cluster: "load", AuthInfo: "load"}
	kc.CurrentContext = "load"
	return clientcmd.WriteToFile(*kc, path)
}

// WaitIdle waits until the incident controller whose metrics scrape returns has had
// nothing queued and nothing in progress for quiet, or ctx ends.
func WaitIdle(ctx context.Context, scrape func() Metrics, quiet time.Duration) error {
	var idleSince time.Time
	for {
		m := scrape()
		busy := m.Sum("workqueue_depth", `name="incident"`) + m.Sum("controller_runtime_active_workers", `controller="incident"`)
		switch {
		case busy > 0 || len(m) == 0:
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) >= quiet:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
