package localcluster

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The PKI lives in Dir/pki and is created once: the CA, and with it every kubeconfig
// written from it, stays valid across restarts. Leaf certificates are reissued from
// the same CA when they are missing or near their end, which a kubeconfig does not
// notice except for the admin certificate it embeds (Start rewrites the kubeconfig).
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore reissues a certificate this long before it expires, so a control
	// plane started today does not stop serving in the middle of a session.
	renewBefore = 30 * 24 * time.Hour

	// adminUser is in system:masters, which RBAC lets do anything: this user is the
	// developer at the keyboard and the controller run by `make run`.
	adminUser  = "klaxon-admin"
	adminGroup = "system:masters"

	// serviceClusterIPRange is the API server's service network; its first address
	// is the kubernetes Service, named in the serving certificate.
	serviceClusterIPRange = "10.0.0.0/24"
	kubernetesServiceIP   = "10.0.0.1"
)

// pkiFiles are the files under Dir/pki the API server is started with.
type pkiFiles struct {
	caCert     string // trusted for client certificates and by clients for serving
	servingCrt string
	servingKey string
	saKey      string // service-account token signing key
	saPub      string // its public half, for verifying tokens
}

// pki is what Start needs in memory: the files for the API server's flags and the
// admin credentials for the kubeconfig and rest.Config.
type pki struct {
	files    pkiFiles
	ca       *keyPair // signs the webhook serving certificate too
	caPEM    []byte
	adminCrt []byte
	adminKey []byte
}

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// ensurePKI loads the PKI from dir, creating or renewing whatever is missing, invalid
// or expiring.
func ensurePKI(dir string, now time.Time) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	p := &pki{files: pkiFiles{
		caCert:     filepath.Join(dir, "ca.crt"),
		servingCrt: filepath.Join(dir, "apiserver.crt"),
		servingKey: filepath.Join(dir, "apiserver.key"),
		saKey:      filepath.Join(dir, "sa.key"),
		saPub:      filepath.Join(dir, "sa.pub"),
	}}
	caKey := filepath.Join(dir, "ca.key")

	ca, err := loadKeyPair(p.files.caCert, caKey, nil, now)
	if err != nil {
		// A new CA invalidates every certificate it signed, so the leaves below are
		// reissued too (they fail verification against it).
		ca, err = newCA(now)
		if err != nil {
			return nil, err
		}
		if err := writeKeyPair(ca, p.files.caCert, caKey); err != nil {
			return nil, err
		}
	}
	p.caPEM = encodeCert(ca.cert)
	p.ca = ca

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP(kubernetesServiceIP)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, err := ensureLeaf(ca, serving, p.files.servingCrt, p.files.servingKey, now); err != nil {
		return nil, err
	}

	admin := &x509.Certificate{
		Subject:     pkix.Name{CommonName: adminUser, Organization: []string{adminGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	adminCrt, adminKey := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	adminPair, err := ensureLeaf(ca, admin, adminCrt, adminKey, now)
	if err != nil {
		return nil, err
	}
	p.adminCrt = encodeCert(adminPair.cert)
	if p.adminKey, err = encodeKey(adminPair.key); err != nil {
		return nil, err
	}

	if err := ensureSigningKey(p.files.saKey, p.files.saPub); err != nil {
		return nil, err
	}
	return p, nil
}

// ensureLeaf returns the key pair in crtPath/keyPath if it is signed by ca and not
// near its end, and otherwise issues and writes a new one from template.
func ensureLeaf(ca *keyPair, template *x509.Certificate, crtPath, keyPath string, now time.Time) (*keyPair, error) {
	if kp, err := loadKeyPair(crtPath, keyPath, ca.cert, now); err == nil {
		return kp, nil
	}
	kp, err := issue(ca, template, now)
	if err != nil {
		return nil, err
	}
	if err := writeKeyPair(kp, crtPath, keyPath); err != nil {
		return nil, err
	}
	return kp, nil
}

// ensureSigningKey creates the service-account signing key once and keeps it:
// changing it would invalidate every service-account token issued before.
func ensureSigningKey(keyPath, pubPath string) error {
	var key crypto.Signer
	if keyPEM, err := os.ReadFile(keyPath); err == nil {
		if block, _ := pem.Decode(keyPEM); block != nil {
			if parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
				key, _ = parsed.(crypto.Signer)
			}
		}
	}
	if key == nil {
		generated, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("generate service-account key: %w", err)
		}
		keyPEM, err := encodeKey(generated)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
			return err
		}
		key = generated
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("encode service-account public key: %w", err)
	}
	return writeFileAtomic(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644)
}

// loadKeyPair reads a certificate and its key and checks that they match, that the
// certificate is valid for at least renewBefore, and, when issuer is not nil, that
// issuer signed it.
func loadKeyPair(crtPath, keyPath string, issuer *x509.Certificate, now time.Time) (*keyPair, error) {
	crtPEM, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	crtBlock, _ := pem.Decode(crtPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if crtBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("%s or %s: no PEM data", crtPath, keyPath)
	}
	cert, err := x509.ParseCertificate(crtBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", crtPath, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not match %s", keyPath, crtPath)
	}
	if now.Add(renewBefore).After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("%s: valid from %s until %s", crtPath, cert.NotBefore, cert.NotAfter)
	}
	if issuer != nil {
		if err := cert.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("%s: %w", crtPath, err)
		}
	}
	return &keyPair{cert: cert, key: key}, nil
}

// newCA creates a self-signed CA.
func newCA(now time.Time) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "klaxon-local-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate a little clock skew
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// issue signs a new leaf certificate for template's subject, names and usages.
func issue(ca *keyPair, template *x509.Certificate, now time.Time) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key for %s: %w", template.Subject.CommonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	t := *template
	t.SerialNumber = serial
	t.NotBefore = now.Add(-time.Hour)
	t.NotAfter = now.Add(leafValidity)
	t.KeyUsage = x509.KeyUsageDigitalSignature
	t.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, &t, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

func writeKeyPair(kp *keyPair, crtPath, keyPath string) error {
	keyPEM, err := encodeKey(kp.key)
	if err != nil {
		return err
	}
	// The key first: a certificate without its key is reissued on the next start.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(crtPath, encodeCert(kp.cert), 0o644)
}

func encodeCert(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFileAtomic replaces path with data in one rename, so a crash never leaves a
// half-written key or kubeconfig behind. An unchanged file is left alone.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, perm)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
