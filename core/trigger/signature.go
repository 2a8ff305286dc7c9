package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/core"
)

// The signature headers and their limits.
const (
	// HeaderGitHubSignature carries "sha256=<hex HMAC-SHA256(secret, body)>".
	HeaderGitHubSignature = "X-Hub-Signature-256"
	// HeaderSignature carries "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>".
	HeaderSignature = "X-Jobgraph-Signature"
	// HeaderGitHubDelivery and HeaderDelivery name a delivery.
	HeaderGitHubDelivery = "X-GitHub-Delivery"
	HeaderDelivery       = "X-Jobgraph-Delivery"
	// MaxDeliveryIDLen bounds a delivery ID.
	MaxDeliveryIDLen = 128
	// TimestampTolerance is how far a timestamped signature's time may be
	// from the server's clock, either way.
	TimestampTolerance = 5 * time.Minute
	// DeliveryRetention is how long a delivery ID is remembered: a replay
	// within it is refused.
	DeliveryRetention = 7 * 24 * time.Hour
)

// SignatureError refuses a delivery whose signature is missing or wrong.
// It is a core.ErrUnauthenticated.
type SignatureError struct {
	Reason string // "missing signature", "signature does not match", …
}

func (e *SignatureError) Error() string { return e.Reason }

// Is makes errors.Is(err, core.ErrUnauthenticated) true.
func (e *SignatureError) Is(target error) bool { return target == core.ErrUnauthenticated }

func sigErr(reason string) error { return &SignatureError{Reason: reason} }

// Request is one delivery as it arrived: the headers that matter and the
// body, byte for byte.
type Request struct {
	TriggerID string
	// GitHubSignature is X-Hub-Signature-256, Signature X-Jobgraph-Signature.
	GitHubSignature string
	Signature       string
	// DeliveryID is X-GitHub-Delivery or X-Jobgraph-Delivery ("" if none).
	DeliveryID string
	Body       []byte
	// ClientAddr and UserAgent go into the audit trail.
	ClientAddr string
	UserAgent  string
}

// verify checks req's signature with secret at now and returns the
// delivery ID that replay protection keys on. The timestamped style wins
// when both headers are present; requireTimestamp accepts only it.
// Comparisons of MACs are constant-time.
func verify(req Request, secret []byte, requireTimestamp bool, now time.Time) (deliveryID string, err error) {
	if len(req.DeliveryID) > MaxDeliveryIDLen {
		return "", core.Invalid("deliveryId", "must be at most %d characters", MaxDeliveryIDLen)
	}
	switch {
	case req.Signature != "":
		sig, err := verifyTimestamped(req.Signature, req.Body, secret, now)
		if err != nil {
			return "", err
		}
		if req.DeliveryID != "" {
			return req.DeliveryID, nil
		}
		return "sig:" + sig, nil // 4 + 64 characters: fits MaxDeliveryIDLen
	case requireTimestamp && req.GitHubSignature != "":
		return "", sigErr("this trigger requires a timestamped signature (" + HeaderSignature + ")")
	case req.GitHubSignature != "":
		hexMAC, ok := strings.CutPrefix(req.GitHubSignature, "sha256=")
		if !ok {
			return "", sigErr("malformed signature: expected sha256=<hex>")
		}
		if !macEqual(hexMAC, secret, req.Body) {
			return "", sigErr("signature does not match")
		}
		if req.DeliveryID == "" {
			return "", core.Invalid("deliveryId", "a delivery ID header (%s or %s) is required", HeaderGitHubDelivery, HeaderDelivery)
		}
		return req.DeliveryID, nil
	}
	return "", sigErr("missing signature")
}

// verifyTimestamped checks "t=<unix>,v1=<hex>" and returns the matching v1.
// Several v1 values may be given (while a sender rotates secrets); one
// matching is enough.
func verifyTimestamped(header string, body, secret []byte, now time.Time) (string, error) {
	var ts string
	var macs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		switch {
		case !ok:
			return "", sigErr("malformed signature: expected t=<unix seconds>,v1=<hex>")
		case k == "t":
			ts = v
		case k == "v1":
			macs = append(macs, v)
		}
	}
	if ts == "" || len(macs) == 0 {
		return "", sigErr("malformed signature: expected t=<unix seconds>,v1=<hex>")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", sigErr("malformed signature: t must be unix seconds")
	}
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > TimestampTolerance || d < -TimestampTolerance {
		return "", sigErr("signature timestamp is outside the accepted window")
	}
	signed := make([]byte, 0, len(ts)+1+len(body))
	signed = append(append(append(signed, ts...), '.'), body...)
	for _, m := range macs {
		if macEqual(m, secret, signed) {
			return strings.ToLower(m), nil
		}
	}
	return "", sigErr("signature does not match")
}

// macEqual reports, in constant time, whether hexMAC is HMAC-SHA256(secret,
// msg).
func macEqual(hexMAC string, secret, msg []byte) bool {
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return false
	}
	return hmac.Equal(got, Sign(secret, msg))
}

// Sign returns HMAC-SHA256(secret, msg): what a sender puts, in hex, in its
// signature header.
func Sign(secret, msg []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(msg)
	return h.Sum(nil)
}

// GitHubSignature returns the X-Hub-Signature-256 value for body.
func GitHubSignature(secret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(Sign([]byte(secret), body))
}

// TimestampedSignature returns the X-Jobgraph-Signature value for body at t.
func TimestampedSignature(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(Sign([]byte(secret), append([]byte(ts+"."), body...)))
}
