package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// smtpTestConfig says how the test SMTP server behaves.
type smtpTestConfig struct {
	// security: "starttls" (offers STARTTLS), "implicit" (TLS from the first byte)
	// or "none".
	security string
	// users enables AUTH (after TLS only) with these username/password pairs.
	users map[string]string
	// mechanism offered for AUTH: sasl.Plain (the default) or sasl.Login.
	mechanism string
	// Replies to MAIL, RCPT and DATA; nil accepts.
	rejectMail, rejectRcpt, rejectData error
}

// receivedMail is one message the test server accepted.
type receivedMail struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool
	AuthUser string
}

// smtpTestServer is a real SMTP server (github.com/emersion/go-smtp) on loopback.
type smtpTestServer struct {
	cfg  smtpTestConfig
	port int

	mu    sync.Mutex
	mails []receivedMail
}

func startSMTPServer(t *testing.T, cfg smtpTestConfig) *smtpTestServer {
	t.Helper()
	s := &smtpTestServer{cfg: cfg}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpTestSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{selfSignedCert(t)}, MinVersion: tls.VersionTLS12}
	var l net.Listener
	var err error
	switch cfg.security {
	case "implicit":
		l, err = tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
	case "starttls":
		srv.TLSConfig = tlsConfig
		l, err = net.Listen("tcp", "127.0.0.1:0")
	default:
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpTestServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

type smtpTestSession struct {
	srv      *smtpTestServer
	conn     *smtp.Conn
	authUser string
	mail     receivedMail
}

func (s *smtpTestSession) AuthMechanisms() []string {
	if s.srv.cfg.users == nil {
		return nil
	}
	if s.srv.cfg.mechanism != "" {
		return []string{s.srv.cfg.mechanism}
	}
	return []string{sasl.Plain}
}

func (s *smtpTestSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if want, ok := s.srv.cfg.users[username]; !ok || want != password {
			return smtp.ErrAuthFailed
		}
		s.authUser = username
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
}

// loginServer is the server side of the LOGIN mechanism, which go-sasl lacks.
type loginServer struct {
	step     int
	username string
	check    func(username, password string) error
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	l.step++
	switch l.step {
	case 1:
		if response == nil {
			return []byte("Username:"), false, nil
		}
		l.step++
		fallthrough
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

func (s *smtpTestSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.cfg.users != nil && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	if s.srv.cfg.rejectMail != nil {
		return s.srv.cfg.rejectMail
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.mail = receivedMail{From: from, TLS: isTLS, AuthUser: s.authUser}
	return nil
}

func (s *smtpTestSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.cfg.rejectRcpt != nil {
		return s.srv.cfg.rejectRcpt
	}
	s.mail.To = append(s.mail.To, to)
	return nil
}

func (s *smtpTestSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.cfg.rejectData != nil {
		return s.srv.cfg.rejectData
	}
	s.mail.Data = data
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.mail)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpTestSession) Reset()        {}
func (s *smtpTestSession) Logout() error { return nil }

// selfSignedCert makes a certificate for 127.0.0.1 and localhost.
func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	certPEM, keyPEM, err := testenv.LoopbackCert()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func emailSpec(port int, mode klaxonv1.EmailTLS, withSecret bool) klaxonv1.NotificationChannelSpec {
	spec := klaxonv1.NotificationChannelSpec{
		Type:    klaxonv1.ChannelEmail,
		Email:   &klaxonv1.EmailChannel{Host: "127.0.0.1", Port: int32(port), From: "Klaxon <klaxon@example.com>", TLS: mode, InsecureSkipVerify: true},
		Timeout: metav1Duration(5 * time.Second),
	}
	if withSecret {
		spec.SecretRef = &klaxonv1.SecretReference{Name: "smtp"}
	}
	return spec
}

func newEmailForTest(t *testing.T, spec klaxonv1.NotificationChannelSpec, secret map[string][]byte) Notifier {
	t.Helper()
	n, err := New(spec, secret, channelTestOptions())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// parsedMail is a received message taken apart.
type parsedMail struct {
	Header *netmail.Message
	Parts  map[string]string // media type -> decoded body
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("unparsable message: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	out := parsedMail{Header: msg, Parts: map[string]string{}}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(p)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		pmt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		// Mail has CRLF line ends; the message's texts have LF.
		out.Parts[pmt] = strings.ReplaceAll(string(body), "\r\n", "\n")
	}
	return out
}

func TestEmailStartTLSWithAuthLogin(t *testing.T) {
	srv := startSMTPServer(t, smtpTestConfig{security: "starttls", users: map[string]string{"klaxon": "pa55word"}, mechanism: sasl.Login})
	n := newEmailForTest(t, emailSpec(srv.port, klaxonv1.EmailStartTLS, true),
		map[string][]byte{"username": []byte("klaxon"), "password": []byte("pa55word")})
	if err := n.Send(context.Background(), testDelivery()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if mails := srv.received(); len(mails) != 1 || !mails[0].TLS || mails[0].AuthUser != "klaxon" {
		t.Fatalf("received %+v, want one message after STARTTLS and AUTH LOGIN", mails)
	}
}

func TestEmailStartTLSWithAuthPlain(t *testing.T) {
	srv := startSMTPServer(t, smtpTestConfig{security: "starttls", users: map[string]string{"klaxon": "pa55word"}})
	n := newEmailForTest(t, emailSpec(srv.port, klaxonv1.EmailStartTLS, true),
		map[string][]byte{"username": []byte("klaxon"), "password": []byte("pa55word")})
	d := testDelivery()
	if err := n.Send(context.Background(), d); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := srv.received()
	if len(mails) != 1 {
		t.Fatalf("server received %d messages, want 1", len(mails))
	}
	got := mails[0]
	if !got.TLS || got.AuthUser != "klaxon" {
		t.Errorf("TLS=%v auth user=%q, want STARTTLS then AUTH as klaxon", got.TLS, got.AuthUser)
	}
	if got.From != "klaxon@example.com" || strings.Join(got.To, ",") != "oncall@example.com" {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	m := parseMail(t, got.Data)
	h := m.Header.Header
	subject, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	checks := map[string][2]string{
		"Subject":        {subject, d.Message.Subject},
		"To":             {h.Get("To"), "<oncall@example.com>"},
		"From":           {h.Get("From"), `"Klaxon" <klaxon@example.com>`},
		"X-Klaxon-Key":   {h.Get("X-Klaxon-Key"), d.Key},
		"X-Klaxon-Event": {h.Get("X-Klaxon-Event"), "Escalated"},
		"Auto-Submitted": {h.Get("Auto-Submitted"), "auto-generated"},
		"Message-ID":     {h.Get("Message-ID"), "<" + emailMessageID(d.Key, "klaxon@example.com") + ">"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !strings.HasSuffix(h.Get("Message-ID"), "@example.com>") {
		t.Errorf("Message-ID %q is not in the sender's domain", h.Get("Message-ID"))
	}
	if date, err := h.Date(); err != nil || !date.Equal(channelTestNow) {
		t.Errorf("Date = %v (%v), want %v", date, err, channelTestNow)
	}
	text := m.Parts["text/plain"]
	if !strings.HasPrefix(text, d.Message.Text) || !strings.Contains(text, "Acknowledge: "+d.Message.Links.Acknowledge) ||
		!strings.Contains(text, "Runbook: Checkout 5xx: https://runbooks.example.com/checkout-5xx") {
		t.Errorf("text/plain part:\n%s", text)
	}
	html := m.Parts["text/html"]
	if !strings.Contains(html, "Error rate on *checkout* is 37% &amp; rising.<br>") ||
		!strings.Contains(html, `<a href="`+d.Message.Links.Acknowledge+`">Acknowledge</a>`) {
		t.Errorf("text/html part:\n%s", html)
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	srv := startSMTPServer(t, smtpTestConfig{security: "implicit"})
	n := newEmailForTest(t, emailSpec(srv.port, klaxonv1.EmailTLSOnly, false), nil)
	if err := n.Send(context.Background(), testDelivery()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if mails := srv.received(); len(mails) != 1 || !mails[0].TLS {
		t.Fatalf("received %+v, want one message over TLS", mails)
	}
}

func TestEmailWithoutTLSAndTemplateHTML(t *testing.T) {
	srv := startSMTPServer(t, smtpTestConfig{security: "none"})
	n := newEmailForTest(t, emailSpec(srv.port, klaxonv1.EmailNoTLS, false), nil)
	d := testDelivery()
	d.Message.HTML = `<html><body><p>Checkout is down. <a href="` + d.Message.Links.Acknowledge + `">Ack</a></p></body></html>`
	d.Message.Text = "Checkout is down. Acknowledge: " + d.Message.Links.Acknowledge
	if err := n.Send(context.Background(), d); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := srv.received()
	if len(mails) != 1 || mails[0].TLS {
		t.Fatalf("received %+v, want one message in clear", mails)
	}
	m := parseMail(t, mails[0].Data)
	html := m.Parts["text/html"]
	// The template's own acknowledge link is not repeated; the others are added
	// before </body>.
	if strings.Count(html, d.Message.Links.Acknowledge) != 1 || !strings.Contains(html, `Resolve</a></li>`) ||
		!strings.HasSuffix(strings.TrimSpace(html), "</ul>\n</body></html>") {
		t.Errorf("text/html part:\n%s", html)
	}
	if text := m.Parts["text/plain"]; strings.Count(text, d.Message.Links.Acknowledge) != 1 {
		t.Errorf("text/plain part repeats the acknowledge link:\n%s", text)
	}
}

func TestEmailFailures(t *testing.T) {
	reply := func(code int, e1, e2, e3 int, msg string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{e1, e2, e3}, Message: msg}
	}
	cases := []struct {
		name      string
		cfg       smtpTestConfig
		mode      klaxonv1.EmailTLS
		insecure  bool
		password  string
		permanent bool
	}{
		{"recipient rejected 550", smtpTestConfig{security: "none", rejectRcpt: reply(550, 5, 1, 1, "no such user")}, klaxonv1.EmailNoTLS, true, "", true},
		{"recipient deferred 450", smtpTestConfig{security: "none", rejectRcpt: reply(450, 4, 2, 1, "mailbox busy")}, klaxonv1.EmailNoTLS, true, "", false},
		{"sender deferred 451", smtpTestConfig{security: "none", rejectMail: reply(451, 4, 3, 0, "try later")}, klaxonv1.EmailNoTLS, true, "", false},
		{"data rejected 554", smtpTestConfig{security: "none", rejectData: reply(554, 5, 6, 0, "spam")}, klaxonv1.EmailNoTLS, true, "", true},
		{"data deferred 452", smtpTestConfig{security: "none", rejectData: reply(452, 4, 3, 1, "disk full")}, klaxonv1.EmailNoTLS, true, "", false},
		{"wrong password 535", smtpTestConfig{security: "starttls", users: map[string]string{"klaxon": "right"}}, klaxonv1.EmailStartTLS, true, "Wr0ngPassw0rd!", true},
		{"no STARTTLS offered", smtpTestConfig{security: "none"}, klaxonv1.EmailStartTLS, true, "", true},
		{"untrusted certificate", smtpTestConfig{security: "starttls"}, klaxonv1.EmailStartTLS, false, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSMTPServer(t, tc.cfg)
			spec := emailSpec(srv.port, tc.mode, tc.password != "")
			spec.Email.InsecureSkipVerify = tc.insecure
			var secret map[string][]byte
			if tc.password != "" {
				secret = map[string][]byte{"username": []byte("klaxon"), "password": []byte(tc.password)}
			}
			err := newEmailForTest(t, spec, secret).Send(context.Background(), testDelivery())
			se := asSendError(t, err)
			if se.Permanent != tc.permanent {
				t.Errorf("permanent = %v, want %v: %v", se.Permanent, tc.permanent, err)
			}
			if tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error leaks the password: %v", err)
			}
			if n := len(srv.received()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func TestEmailConnectionRefusedIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	err = newEmailForTest(t, emailSpec(port, klaxonv1.EmailStartTLS, false), nil).Send(context.Background(), testDelivery())
	if se := asSendError(t, err); se.Permanent {
		t.Errorf("refused connection is permanent: %v", err)
	}
}

func TestEmailNeedsAnAddress(t *testing.T) {
	n := newEmailForTest(t, emailSpec(25, klaxonv1.EmailNoTLS, false), nil)
	for _, addr := range []string{"", "not an address", "a@example.com, b@example.com"} {
		d := testDelivery()
		d.Address = addr
		if se := asSendError(t, n.Send(context.Background(), d)); !se.Permanent {
			t.Errorf("address %q: %+v, want permanent", addr, se)
		}
	}
}

// FuzzEmailMessage: any subject, text and HTML give a well-formed message with one
// recipient and no injected header.
func FuzzEmailMessage(f *testing.F) {
	f.Add("[SEV1] Checkout", "text\nwith lines", "", "key")
	f.Add("a\r\nBcc: victim@example.com", "\xff\x00", "<p>x</p></body>", "k\r\nBcc: x@example.com")
	f.Add(strings.Repeat("ü", 300), strings.Repeat(".\r\n", 50), "</BODY>", "")
	f.Fuzz(func(t *testing.T, subject, text, html, key string) {
		d := testDelivery()
		d.Message.Subject = subject
		d.Message.Text = text
		d.Message.HTML = html
		d.Key = key
		msg, err := emailMessage("klaxon@example.com", d, channelTestNow)
		if err != nil {
			t.Fatalf("emailMessage: %v", err)
		}
		var buf bytes.Buffer
		if _, err := msg.WriteTo(&buf); err != nil {
			t.Fatalf("WriteTo: %v", err)
		}
		m, err := netmail.ReadMessage(&buf)
		if err != nil {
			t.Fatalf("unparsable message: %v", err)
		}
		if got := m.Header["To"]; len(got) != 1 || got[0] != "<oncall@example.com>" {
			t.Errorf("To = %q", got)
		}
		for _, h := range []string{"Bcc", "Cc"} {
			if v, ok := m.Header[h]; ok {
				t.Errorf("injected header %s: %q", h, v)
			}
		}
		if got := m.Header["Subject"]; len(got) != 1 {
			t.Errorf("Subject headers %q", got)
		}
	})
}

func metav1Duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
