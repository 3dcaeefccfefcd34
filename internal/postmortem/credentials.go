package postmortem

import (
	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Credentials are what a PostmortemRepository's Secret holds. They format as
// "[redacted]" so that a log line or an error that prints them by mistake leaks nothing.
type Credentials struct {
	// Username for https basic auth; a token as Password needs none.
	Username string
	// Password or token for https.
	Password string
	// SSHIdentity is the private key for ssh remotes (PEM or OpenSSH format).
	SSHIdentity []byte
	// KnownHosts holds the ssh remote's host keys in known_hosts format; required for
	// ssh, since a host key is never accepted unverified.
	KnownHosts []byte
	// SigningKey is an armored OpenPGP private key that signs commits.
	SigningKey []byte
	// Passphrase unlocks SigningKey, and SSHIdentity when it is encrypted.
	Passphrase []byte
}

// CredentialsFromSecret reads the keys a PostmortemRepository's Secret may hold:
// username, password, identity, known_hosts, signingKey and passphrase.
func CredentialsFromSecret(data map[string][]byte) Credentials {
	return Credentials{
		Username:    string(data[v1alpha1.SecretKeyUsername]),
		Password:    string(data[v1alpha1.SecretKeyPassword]),
		SSHIdentity: data[v1alpha1.SecretKeySSHPrivateKey],
		KnownHosts:  data[v1alpha1.SecretKeyKnownHosts],
		SigningKey:  data[v1alpha1.SecretKeySigningKey],
		Passphrase:  data[v1alpha1.SecretKeyPassphrase],
	}
}

// String hides the values.
func (Credentials) String() string { return "[redacted]" }

// GoString hides the values from %#v.
func (Credentials) GoString() string { return "postmortem.Credentials{[redacted]}" }
