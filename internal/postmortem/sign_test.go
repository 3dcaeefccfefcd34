package postmortem

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testKey is a signing key as a Secret would hold it: armored private key protected by a
// passphrase, and the armored public key a reviewer imports.
type testKey struct {
	private, public, passphrase []byte
}

func newTestKey(t *testing.T) testKey {
	t.Helper()
	// EdDSA (legacy, algorithm 22) is what GnuPG 2.2 verifies; RFC 9580 Ed25519 it
	// does not know.
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519}
	e, err := openpgp.NewEntity("Klaxon Test", "", "klaxon@example.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()

	pass := []byte("correct horse battery staple")
	if err := e.EncryptPrivateKeys(pass, nil); err != nil {
		t.Fatal(err)
	}
	var priv bytes.Buffer
	w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return testKey{private: priv.Bytes(), public: pub.Bytes(), passphrase: pass}
}

// gnupgHome imports the public key into a new GNUPGHOME and returns the environment
// that makes git use it.
func gnupgHome(t *testing.T, public []byte) []string {
	t.Helper()
	requireBinary(t, "gpg", "gnupg")
	// gpg-agent's socket path must be short; TempDir under /tmp keeps it so.
	home, err := os.MkdirTemp("", "gnupg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("gpg", "--batch", "--homedir", home, "--import")
	cmd.Stdin = bytes.NewReader(public)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	return []string{"GNUPGHOME=" + home}
}

func TestSignedCommitsVerifyWithGit(t *testing.T) {
	key := newTestKey(t)
	env := gnupgHome(t, key.public)
	signer, err := NewSigner(key.private, key.passphrase)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cache.git")
	clock := newClock()
	s, err := OpenStore(dir, StoreOptions{Signer: signer, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var commits []string
	for _, c := range []Change{change("postmortems/a.md", "a\n"), change("postmortems/b.md", "b\n")} {
		res, err := s.Commit("main", []Change{c})
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, res[0].Commit)
	}
	for _, c := range commits {
		out, err := gitErr(t, dir, env, "verify-commit", "--raw", c)
		if err != nil {
			t.Fatalf("git verify-commit %s: %v", c, err)
		}
		_ = out
		// --raw writes gpg's status lines to stderr; verify by exit status and by
		// what git log reports.
		got := strings.TrimSpace(runGitEnv(t, dir, env, "log", "-1", "--format=%G?:%GK", c))
		if !strings.HasPrefix(got, "G:") && !strings.HasPrefix(got, "U:") {
			t.Errorf("signature status of %s: %q, want good", c, got)
		}
		if !strings.EqualFold(strings.TrimPrefix(strings.TrimPrefix(got, "G:"), "U:"), signer.KeyID()) {
			t.Errorf("signed by %q, want key %s", got, signer.KeyID())
		}
	}
	fsck(t, dir)

	// go-git's own verification agrees.
	c, err := object.GetCommit(s.storage, plumbing.NewHash(commits[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(string(key.public)); err != nil {
		t.Errorf("go-git verify: %v", err)
	}
}

func TestSignerRefusesBadKeys(t *testing.T) {
	key := newTestKey(t)
	for name, tc := range map[string]struct{ key, pass []byte }{
		"wrong passphrase": {key.private, []byte("wrong")},
		"no passphrase":    {key.private, nil},
		"public key":       {key.public, key.passphrase},
		"garbage":          {[]byte("not a key"), nil},
	} {
		if _, err := NewSigner(tc.key, tc.pass); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), string(key.passphrase)) {
			t.Errorf("%s: the error shows the passphrase", name)
		}
	}
}

func runGitEnv(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := gitErr(t, dir, env, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}
