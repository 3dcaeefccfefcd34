package controllers

import (
	"context"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// mailbox is a real SMTP server (github.com/emersion/go-smtp) on loopback that takes
// mail from one user.
type mailbox struct {
	port     int
	mu       sync.Mutex
	messages []delivered
}

type delivered struct {
	from string
	to   []string
	msg  *mail.Message
	body string
}

func newMailbox(t *testing.T, user, password string) *mailbox {
	m := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &mailSession{box: m, user: user, password: password}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback only
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return m
}

func (m *mailbox) received() []delivered {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]delivered(nil), m.messages...)
}

type mailSession struct {
	box            *mailbox
	user, password string
	authed         bool
	cur            delivered
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, u, p string) error {
		if u != s.user || p != s.password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur = delivered{from: from}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(msg.Body)
	s.cur.msg, s.cur.body = msg, string(body)
	s.box.mu.Lock()
	s.box.messages = append(s.box.messages, s.cur)
	s.box.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// TestEmailPage: a page to a responder whose contact method is e-mail arrives at a
// real SMTP server, authenticated with the channel's Secret, with the right
// recipient and subject and both a plain-text and an HTML part.
func TestEmailPage(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	box := newMailbox(t, "klaxon", "s3cret-password")

	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "smtp", Namespace: ns},
		Data: map[string][]byte{"username": []byte("klaxon"), "password": []byte("s3cret-password")}})).To(Succeed())
	nc := &klaxonv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: "mail", Namespace: ns},
		Spec: klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail, SecretRef: &klaxonv1.SecretReference{Name: "smtp"},
			Email:   &klaxonv1.EmailChannel{Host: "127.0.0.1", Port: int32(box.port), From: "klaxon@acme.example", TLS: klaxonv1.EmailNoTLS},
			Timeout: metav1.Duration{Duration: 10 * time.Second}}}
	g.Expect(k8sClient.Create(ctx, nc)).To(Succeed())
	expectReady(g, nc)
	rsp := &klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns},
		Spec: klaxonv1.ResponderSpec{DisplayName: "Alice", ContactMethods: []klaxonv1.ContactMethod{
			{Name: "work email", ChannelRef: klaxonv1.ObjectReference{Name: "mail"}, Address: "alice@acme.example"}}}}
	g.Expect(k8sClient.Create(ctx, rsp)).To(Succeed())
	ep := &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: klaxonv1.EscalationPolicySpec{Levels: []klaxonv1.EscalationLevel{{Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: "alice"}}}}}}
	g.Expect(k8sClient.Create(ctx, ep)).To(Succeed())
	expectReady(g, ep)

	openIncident(g, ns, "mail", nil)
	g.Eventually(box.received, 20*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	m := box.received()[0]
	g.Expect(m.from).To(Equal("klaxon@acme.example"))
	g.Expect(m.to).To(Equal([]string{"alice@acme.example"}))
	g.Expect(m.msg.Header.Get("Subject")).To(ContainSubstring("payments failing"))
	g.Expect(m.msg.Header.Get("Content-Type")).To(HavePrefix("multipart/alternative"))
	g.Expect(m.body).To(ContainSubstring("text/plain"))
	g.Expect(m.body).To(ContainSubstring("text/html"))
	g.Expect(strings.Contains(m.body, "s3cret-password")).To(BeFalse())
}
