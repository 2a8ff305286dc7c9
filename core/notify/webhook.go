package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// The kind names.
const (
	KindWebhook = "webhook"
	KindSlack   = "slack"
	KindEmail   = "email"
)

// SignatureHeader carries a webhook body's HMAC-SHA256 under the channel's
// secret: "sha256=" and the MAC in hex. Receivers recompute it over the raw
// body and compare in constant time.
const SignatureHeader = "X-Jobgraph-Signature"

// Limits on webhook fields.
const (
	MaxURLLen         = 2048
	MaxWebhookSecret  = 1024
	MaxWebhookHeaders = 20
)

// Webhook posts the generic JSON payload (Message) to a URL.
type Webhook struct {
	WebhookSettings
	WebhookSecrets
}

// WebhookSettings are a webhook's clear settings.
type WebhookSettings struct {
	URL string `json:"url"`
	// HeaderNames lists the custom headers' names (their values are
	// secrets: they often carry a token).
	HeaderNames []string `json:"headerNames,omitempty"`
	// HasSecret says whether bodies are signed.
	HasSecret bool `json:"hasSecret"`
}

// WebhookSecrets are a webhook's sealed settings.
type WebhookSecrets struct {
	// Secret keys the HMAC-SHA256 signature of each body; empty sends
	// none.
	Secret string `json:"secret,omitempty"`
	// Headers are sent with every request.
	Headers map[string]string `json:"headers,omitempty"`
}

// Kind implements Config.
func (*Webhook) Kind() string { return KindWebhook }

// Parts implements Config.
func (w *Webhook) Parts() (any, any) { return &w.WebhookSettings, &w.WebhookSecrets }

// KeepSecrets implements Config: an update without a secret keeps the old
// one, one without headers keeps the old headers.
func (w *Webhook) KeepSecrets(old Config) {
	o, ok := old.(*Webhook)
	if !ok {
		return
	}
	if w.Secret == "" {
		w.Secret = o.Secret
	}
	if w.Headers == nil {
		w.Headers = o.Headers
	}
}

// reservedHeaders may not be set by a channel.
var reservedHeaders = []string{"Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", SignatureHeader}

// Validate implements Sender. It also fills the derived settings
// (HeaderNames, HasSecret).
func (w *Webhook) Validate() error {
	if err := checkURL("webhook.url", w.URL); err != nil {
		return err
	}
	if len(w.Secret) > MaxWebhookSecret {
		return invalid("webhook.secret", "must be at most %d bytes", MaxWebhookSecret)
	}
	if len(w.Headers) > MaxWebhookHeaders {
		return invalid("webhook.headers", "at most %d headers", MaxWebhookHeaders)
	}
	w.HeaderNames = nil
	for name, v := range w.Headers {
		if !validHeaderName(name) {
			return invalid("webhook.headers", "%q is not a header name", name)
		}
		for _, r := range reservedHeaders {
			if strings.EqualFold(name, r) {
				return invalid("webhook.headers", "%s is set by jobgraph", r)
			}
		}
		if strings.ContainsAny(v, "\r\n\x00") || len(v) > 4096 {
			return invalid("webhook.headers", "the value of %s must be one line of at most 4096 bytes", name)
		}
		w.HeaderNames = append(w.HeaderNames, http.CanonicalHeaderKey(name))
	}
	sort.Strings(w.HeaderNames)
	w.HasSecret = w.Secret != ""
	return nil
}

// Send implements Sender: it posts m as JSON.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return Permanent(err)
	}
	h := http.Header{}
	for k, v := range w.Headers {
		h.Set(k, v)
	}
	h.Set("X-Jobgraph-Event", string(m.Event))
	if w.Secret != "" {
		h.Set(SignatureHeader, Sign(w.Secret, body))
	}
	return postJSON(ctx, w.URL, h, body)
}

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// httpClient sends every webhook; each attempt's ctx bounds it. It does not
// follow redirects: a receiver that moved is reported, not chased.
var httpClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// postJSON posts body and classifies the answer: 2xx is done; 408, 429,
// 5xx and transport errors are worth retrying; any other status is
// Permanent.
func postJSON(ctx context.Context, u string, h http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return Permanent(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jobgraph-notify/1")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", redactURL(u), stripURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s answered %s: %s", redactURL(u), resp.Status, strings.TrimSpace(string(snippet)))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	}
	return Permanent(err)
}

// checkURL requires an absolute http or https URL with a host.
func checkURL(field, s string) error {
	if s == "" {
		return invalid(field, "must not be empty")
	}
	if len(s) > MaxURLLen {
		return invalid(field, "must be at most %d bytes", MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return invalid(field, "must be an absolute http or https URL")
	}
	if u.User != nil {
		return invalid(field, "must not carry a user or password: use a header")
	}
	return nil
}

// redactURL keeps a URL's scheme and host: its path and query may hold a
// token (a Slack URL is one).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the receiver"
	}
	return u.Scheme + "://" + u.Host
}

// stripURL drops the URL net/http puts in its errors (*url.Error), for the
// same reason.
func stripURL(err error) error {
	var ue *url.Error
	if e, ok := err.(*url.Error); ok {
		ue = e
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
