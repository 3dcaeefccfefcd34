package postmortem

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Signer signs commits with an OpenPGP key, so `git verify-commit` vouches for records
// built from objects without gpg on the controller's image.
type Signer struct {
	entity *openpgp.Entity
	now    func() time.Time
}

// NewSigner reads an armored OpenPGP private key (the Secret's signingKey) and unlocks
// it with passphrase (the Secret's passphrase; empty for a key without one). The
// passphrase is used here and not kept.
func NewSigner(armoredKey, passphrase []byte) (*Signer, error) {
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armoredKey))
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("read signing key: want one key, found %d", len(keys))
	}
	e := keys[0]
	if e.PrivateKey == nil {
		return nil, errors.New("read signing key: it is a public key; the Secret needs the private key")
	}
	if encrypted(e) {
		if len(passphrase) == 0 {
			return nil, errors.New("signing key is protected by a passphrase and the Secret has none")
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("unlock signing key: %w", err)
		}
	}
	if _, ok := e.SigningKey(time.Now()); !ok {
		return nil, errors.New("signing key has no valid key for signing (expired or revoked?)")
	}
	return &Signer{entity: e, now: time.Now}, nil
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// KeyID returns the signing key's long id in hex, as gpg prints it.
func (s *Signer) KeyID() string {
	if k, ok := s.entity.SigningKey(s.now()); ok {
		return k.PublicKey.KeyIdString()
	}
	return s.entity.PrimaryKey.KeyIdString()
}

// sign returns the armored detached signature of message.
func (s *Signer) sign(message io.Reader) (string, error) {
	var buf bytes.Buffer
	cfg := &packet.Config{Time: s.now}
	if err := openpgp.ArmoredDetachSign(&buf, s.entity, message, cfg); err != nil {
		return "", fmt.Errorf("sign commit: %w", err)
	}
	return buf.String(), nil
}

// signCommit sets c.PGPSignature to the signature of c encoded without one, which is
// the payload git reconstructs to verify it.
func (s *Signer) signCommit(c *object.Commit) error {
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return fmt.Errorf("encode commit: %w", err)
	}
	r, err := payload.Reader()
	if err != nil {
		return fmt.Errorf("encode commit: %w", err)
	}
	defer r.Close()
	sig, err := s.sign(r)
	if err != nil {
		return err
	}
	c.PGPSignature = sig
	return nil
}
