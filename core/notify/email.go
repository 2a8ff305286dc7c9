package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// TLSMode says how an email channel protects its SMTP connection.
type TLSMode string

// The TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text (a relay on localhost)
	TLSStartTLS TLSMode = "starttls" // upgrade with STARTTLS (port 587)
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (port 465)
)

// TLSModes returns every TLS mode.
func TLSModes() []TLSMode { return []TLSMode{TLSNone, TLSStartTLS, TLSImplicit} }

// MaxRecipients bounds an email channel's To.
const MaxRecipients = 50

// Email sends a plain-text mail over SMTP.
type Email struct {
	EmailSettings
	EmailSecrets
}

// EmailSettings are an email channel's clear settings.
type EmailSettings struct {
	Host     string   `json:"host"`
	Port     int      `json:"port"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	Username string   `json:"username,omitempty"`
	TLS      TLSMode  `json:"tls"`
	// HasPassword says whether a password is set, derived.
	HasPassword bool `json:"hasPassword"`
	// InsecureSkipVerify is for tests only; the API never sets it.
	InsecureSkipVerify bool `json:"-"`
}

// EmailSecrets are an email channel's sealed settings.
type EmailSecrets struct {
	Password string `json:"password,omitempty"`
}

// Kind implements Config.
func (*Email) Kind() string { return KindEmail }

// Parts implements Config.
func (e *Email) Parts() (any, any) { return &e.EmailSettings, &e.EmailSecrets }

// KeepSecrets implements Config.
func (e *Email) KeepSecrets(old Config) {
	if o, ok := old.(*Email); ok && e.Password == "" {
		e.Password = o.Password
	}
}

// Validate implements Sender; it also normalises the addresses.
func (e *Email) Validate() error {
	if e.Host == "" || strings.ContainsAny(e.Host, " /\r\n") || len(e.Host) > 253 {
		return invalid("email.host", "must be a host name or address")
	}
	if e.Port < 1 || e.Port > 65535 {
		return invalid("email.port", "must be between 1 and 65535")
	}
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return invalid("email.from", "not an email address (%v)", err)
	}
	e.From = from.String()
	if len(e.To) == 0 {
		return invalid("email.to", "must name at least one recipient")
	}
	if len(e.To) > MaxRecipients {
		return invalid("email.to", "at most %d recipients", MaxRecipients)
	}
	for i, t := range e.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return invalid("email.to", "recipient %d is not an email address (%v)", i+1, err)
		}
		e.To[i] = a.String()
	}
	if e.TLS == "" {
		e.TLS = TLSStartTLS
	}
	if !slices.Contains(TLSModes(), e.TLS) {
		return invalid("email.tls", "must be none, starttls or tls")
	}
	if len(e.Username) > 255 || strings.ContainsAny(e.Username, "\r\n") {
		return invalid("email.username", "must be one line of at most 255 bytes")
	}
	if e.Password != "" && e.Username == "" {
		return invalid("email.username", "a password needs a username")
	}
	if len(e.Password) > 1024 {
		return invalid("email.password", "must be at most 1024 bytes")
	}
	e.HasPassword = e.Password != ""
	return nil
}

// Send implements Sender. SMTP 4xx replies and connection errors are worth
// retrying; 5xx replies are Permanent.
func (e *Email) Send(ctx context.Context, m Message) error {
	err := e.send(ctx, m)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	return err
}

func (e *Email) send(ctx context.Context, m Message) error {
	addr := net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	tlsConf := &tls.Config{ServerName: e.Host, InsecureSkipVerify: e.InsecureSkipVerify} //nolint:gosec // tests only
	if e.TLS == TLSImplicit {
		conn = tls.Client(conn, tlsConf)
	}
	c, err := smtp.NewClient(conn, e.Host)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello("jobgraph"); err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if e.TLS == TLSStartTLS {
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("smtp STARTTLS: %w", err)
		}
	}
	if e.Username != "" {
		// PlainAuth refuses to send the password over an unencrypted
		// connection to anything but localhost.
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, e.Host)); err != nil {
			return fmt.Errorf("smtp AUTH: %w", err)
		}
	}
	from, _ := mail.ParseAddress(e.From) // validated
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	for _, t := range e.To {
		a, _ := mail.ParseAddress(t)
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("smtp RCPT TO %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(e.compose(m)); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := c.Quit(); err != nil {
		// The mail was accepted at the end of DATA: a failed QUIT loses
		// nothing.
		return nil
	}
	return nil
}

// compose returns the mail: headers, then the body in quoted-printable.
func (e *Email) compose(m Message) []byte {
	var b bytes.Buffer
	var id [12]byte
	_, _ = rand.Read(id[:])
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", e.From)
	hdr("To", strings.Join(e.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Title()))
	hdr("Date", time.Now().UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(id[:])+"@jobgraph>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("X-Jobgraph-Event", string(m.Event))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(m.Body(), "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// invalid is core.Invalid, shorter.
func invalid(field, format string, args ...any) error { return core.Invalid(field, format, args...) }
