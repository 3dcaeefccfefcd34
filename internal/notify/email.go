package notify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"syscall"
	"time"

	"github.com/wneessen/go-mail"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

const (
	// emailMaxSubject keeps the Subject within one RFC 5322 line once encoded.
	emailMaxSubject = 250
	// emailKeyHeader carries Delivery.Key, as Idempotency-Key does in webhooks.
	emailKeyHeader = "X-Klaxon-Key"
)

// emailNotifier sends multipart/alternative mail (text and HTML) through an SMTP
// server with go-mail.
type emailNotifier struct {
	host     string
	port     int
	from     string
	tlsMode  klaxonv1.EmailTLS
	insecure bool
	username string
	password string
	env      channelEnv
}

func newEmailNotifier(spec klaxonv1.NotificationChannelSpec, secret map[string][]byte, env channelEnv) (Notifier, error) {
	e := spec.Email
	if e == nil || e.Host == "" {
		return nil, errors.New("an email channel needs spec.email.host")
	}
	if _, err := netmail.ParseAddress(e.From); err != nil {
		return nil, fmt.Errorf("spec.email.from is not an e-mail address: %w", err)
	}
	n := &emailNotifier{
		host: e.Host, port: int(e.Port), from: e.From, tlsMode: e.TLS, insecure: e.InsecureSkipVerify,
		username: secretString(secret, klaxonv1.SecretKeyUsername),
		password: string(secret[klaxonv1.SecretKeyPassword]),
		env:      env,
	}
	switch n.tlsMode {
	case "", klaxonv1.EmailStartTLS:
		n.tlsMode = klaxonv1.EmailStartTLS
		n.port = cmp.Or(n.port, 587)
	case klaxonv1.EmailTLSOnly:
		n.port = cmp.Or(n.port, 465)
	case klaxonv1.EmailNoTLS:
		n.port = cmp.Or(n.port, 25)
	default:
		return nil, fmt.Errorf("spec.email.tls %q is not StartTLS, TLS or None", n.tlsMode)
	}
	if _, err := n.client(); err != nil {
		return nil, err
	}
	return n, nil
}

// client builds a go-mail client for one attempt. A client per attempt keeps
// concurrent sends apart: go-mail's Client records the negotiated AUTH mechanism.
func (n *emailNotifier) client() (*mail.Client, error) {
	opts := []mail.Option{
		mail.WithPort(n.port),
		mail.WithTimeout(n.env.timeout),
		mail.WithTLSConfig(&tls.Config{
			ServerName:         n.host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: n.insecure, //nolint:gosec // spec.email.insecureSkipVerify, for test servers
		}),
	}
	switch n.tlsMode {
	case klaxonv1.EmailTLSOnly:
		opts = append(opts, mail.WithSSL())
	case klaxonv1.EmailNoTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		// Mandatory: a server that does not offer STARTTLS fails the attempt rather
		// than receiving the password and the incident in clear text.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if n.username != "" {
		// PLAIN or LOGIN as the server offers (never over an unencrypted connection
		// to another host); anything else it offers is discovered.
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(n.username), mail.WithPassword(n.password))
	}
	c, err := mail.NewClient(n.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("configure SMTP client: %w", err)
	}
	return c, nil
}

// Send mails the delivery to its address.
func (n *emailNotifier) Send(ctx context.Context, d Delivery) error {
	ctx, cancel := n.env.attempt(ctx)
	defer cancel()
	return finishSend(n.send(ctx, d), []string{n.password})
}

func (n *emailNotifier) send(ctx context.Context, d Delivery) error {
	msg, err := emailMessage(n.from, d, n.env.now())
	if err != nil {
		return &SendError{Err: err, Permanent: true}
	}
	c, err := n.client()
	if err != nil {
		return &SendError{Err: err, Permanent: true}
	}
	what := fmt.Sprintf("smtp %s:%d", n.host, n.port)
	conn, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classifySMTPError(ctx, what, err)
	}
	err = c.SendWithSMTPClient(conn, msg)
	// Once the server has accepted the DATA the mail is delivered: a failed QUIT
	// must not turn it into a failure that repeats the page.
	_ = c.CloseWithSMTPClient(conn)
	if err != nil {
		return classifySMTPError(ctx, what, err)
	}
	return nil
}

// emailMessage builds the mail: Subject from Message.Subject, a text/plain part
// (Message.Text) and a text/html part (Message.HTML, or the text rendered as HTML),
// each with the action links appended unless the template already has them.
// Message-ID derives from the delivery key, so a repeat after a crash has the same
// ID and many mail clients show it once.
func emailMessage(from string, d Delivery, now time.Time) (*mail.Msg, error) {
	if strings.TrimSpace(d.Address) == "" {
		return nil, errors.New("email delivery has no recipient address")
	}
	m := d.Message
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("invalid from address: %w", err)
	}
	if err := msg.To(d.Address); err != nil {
		return nil, fmt.Errorf("invalid recipient address %q: %w", oneLine(d.Address), err)
	}
	subject := strings.TrimSpace(oneLine(m.Subject))
	if subject == "" {
		subject = strings.TrimSpace(oneLine(messageHeadline(m)))
	}
	msg.Subject(truncateRunes(subject, emailMaxSubject))
	msg.SetDateWithValue(now)
	msg.SetUserAgent(userAgent)
	if d.Key != "" {
		msg.SetMessageIDWithValue(emailMessageID(d.Key, from))
		msg.SetGenHeader(emailKeyHeader, truncateRunes(headerValue(d.Key), 900))
	} else {
		msg.SetMessageID()
	}
	if m.Event != "" {
		msg.SetGenHeader(mail.Header(WebhookEventHeader), truncateRunes(headerValue(string(m.Event)), 200))
	}
	// RFC 3834: out-of-office replies must not answer a page.
	msg.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")

	text := strings.ToValidUTF8(m.Text, "\uFFFD")
	htmlBody := strings.ToValidUTF8(m.HTML, "\uFFFD")
	if strings.TrimSpace(htmlBody) == "" {
		htmlBody = emailHTMLFromText(subject, text)
	}
	msg.SetBodyString(mail.TypeTextPlain, text+emailTextLinks(m.Links, text))
	msg.AddAlternativeString(mail.TypeTextHTML, emailInsertHTML(htmlBody, emailHTMLLinks(m.Links, htmlBody)))
	return msg, nil
}

// emailMessageID is "<klaxon.HASH@DOMAIN>": a hash keeps any key a valid
// msg-id, and the sender's domain makes it globally unique as RFC 5322 asks.
func emailMessageID(key, from string) string {
	domain := "klaxon.invalid"
	if a, err := netmail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 && at < len(a.Address)-1 {
			domain = a.Address[at+1:]
		}
	}
	sum := sha256.Sum256([]byte(key))
	return "klaxon." + hex.EncodeToString(sum[:16]) + "@" + domain
}

// emailLinks are the message's links worth a line in a mail, in order.
func emailLinks(l Links) []Link {
	var out []Link
	for _, c := range []Link{{"Acknowledge", l.Acknowledge}, {"Resolve", l.Resolve}, {"Incident", l.Incident}} {
		if u := webURL(c.URL, 4096); u != "" {
			out = append(out, Link{Title: c.Title, URL: u})
		}
	}
	for _, rb := range l.Runbooks {
		if u := webURL(rb.URL, 4096); u != "" {
			title := strings.TrimSpace(oneLine(rb.Title))
			if title == "" {
				title = "Runbook"
			}
			out = append(out, Link{Title: "Runbook: " + truncateRunes(title, 200), URL: u})
		}
	}
	return out
}

// emailTextLinks is a plain-text footer with the links the text lacks.
func emailTextLinks(l Links, text string) string {
	var b strings.Builder
	for _, link := range emailLinks(l) {
		if !strings.Contains(text, link.URL) {
			fmt.Fprintf(&b, "%s: %s\n", link.Title, link.URL)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n\n" + b.String()
}

// emailHTMLLinks is an HTML list of the links the HTML lacks.
func emailHTMLLinks(l Links, body string) string {
	var b strings.Builder
	for _, link := range emailLinks(l) {
		esc := html.EscapeString(link.URL)
		if strings.Contains(body, link.URL) || strings.Contains(body, esc) {
			continue
		}
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", esc, html.EscapeString(link.Title))
	}
	if b.Len() == 0 {
		return ""
	}
	return "<ul>\n" + b.String() + "</ul>\n"
}

// emailInsertHTML puts fragment before </body>, or at the end of a fragment
// without one.
func emailInsertHTML(doc, fragment string) string {
	if fragment == "" {
		return doc
	}
	if i := strings.LastIndex(strings.ToLower(doc), "</body>"); i >= 0 {
		return doc[:i] + fragment + doc[i:]
	}
	return doc + "\n" + fragment
}

// emailHTMLFromText renders plain text as minimal HTML: escaped, one paragraph per
// blank-line-separated block, line breaks kept.
func emailHTMLFromText(subject, text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>")
	b.WriteString(html.EscapeString(subject))
	b.WriteString("</title></head>\n<body style=\"font-family: sans-serif\">\n")
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		lines := strings.Split(strings.Trim(para, "\n"), "\n")
		for i := range lines {
			lines[i] = html.EscapeString(lines[i])
		}
		b.WriteString("<p>" + strings.Join(lines, "<br>\n") + "</p>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// classifySMTPError says whether an SMTP failure is worth retrying: a 4xx reply, a
// refused, reset or timed-out connection are temporary; a 5xx reply, a certificate
// the system does not trust, a server without STARTTLS or without a usable AUTH
// mechanism need a person, so they are permanent.
func classifySMTPError(ctx context.Context, what string, err error) *SendError {
	wrapped := fmt.Errorf("%s: %w", what, err)
	var sendErr *mail.SendError
	if errors.As(err, &sendErr) {
		// go-mail reports MAIL, RCPT and DATA failures with the reply code; without
		// one the connection broke mid-transaction, unless the message itself could
		// not be turned into a transaction.
		code := sendErr.ErrorCode()
		switch {
		case code >= 500:
			return &SendError{Err: wrapped, Permanent: true}
		case code >= 400:
			return &SendError{Err: wrapped}
		}
		switch sendErr.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return &SendError{Err: wrapped, Permanent: true}
		}
		return &SendError{Err: wrapped}
	}
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		return &SendError{Err: wrapped, Permanent: tpErr.Code >= 500}
	}
	if isNetworkError(ctx, err) {
		return &SendError{Err: wrapped}
	}
	return &SendError{Err: wrapped, Permanent: true}
}

// isNetworkError reports whether err is a connection failure or a timeout rather
// than an answer, except certificate and TLS-mode errors, which are configuration.
func isNetworkError(ctx context.Context, err error) bool {
	var (
		verifyErr *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
	)
	if errors.As(err, &verifyErr) || errors.As(err, &recordErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) {
		return false
	}
	var netErr net.Error
	return ctx.Err() != nil || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
