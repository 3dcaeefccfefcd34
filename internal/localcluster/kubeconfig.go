package localcluster

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// contextName names the cluster, user and context in the kubeconfig; distinct from
// the names other local clusters use, so the file can be merged into ~/.kube/config.
const contextName = "klaxon-local"

// writeKubeconfig writes a self-contained kubeconfig (certificates inline) for the
// admin user. The file holds a client key, hence mode 0600.
func writeKubeconfig(path, server string, p *pki) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{
		Server:                   server,
		CertificateAuthorityData: p.caPEM,
	}
	cfg.AuthInfos[contextName+"-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: p.adminCrt,
		ClientKeyData:         p.adminKey,
	}
	cfg.Contexts[contextName] = &clientcmdapi.Context{
		Cluster:   contextName,
		AuthInfo:  contextName + "-admin",
		Namespace: "default",
	}
	cfg.CurrentContext = contextName

	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig: %w", err)
	}
	// Not clientcmd.WriteToFile: a reader must never see a half-written file.
	return writeFileAtomic(path, data, 0o600)
}
