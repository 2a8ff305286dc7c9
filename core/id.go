package core

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// Kind names a type of object. Its ID prefix makes every ID self-describing
// ("hst_01JD…" is a host), which keeps IDs opaque to clients yet lets the
// server route a bare ID to the right table and reject an ID of the wrong kind
// with a clear error.
type Kind string

// The kinds of object and their ID prefixes.
const (
	KindProject    Kind = "prj"
	KindHost       Kind = "hst"
	KindHostGroup  Kind = "grp"
	KindCredential Kind = "crd"
	KindUser       Kind = "usr"
	KindSession    Kind = "ses"
	KindToken      Kind = "tok"
	KindAuditEvent Kind = "aud"
	KindJob        Kind = "job"
	KindRun        Kind = "run"
	KindStepRun    Kind = "stp"
	KindTask       Kind = "tsk"
	KindSchedule   Kind = "sch"
	KindTrigger    Kind = "trg"
	KindApproval   Kind = "apv"
	KindGuardRule  Kind = "gdr"
	KindChannel    Kind = "chn" // a notification channel
	KindDelivery   Kind = "dlv" // one notification to deliver
)

// Noun is the kind's name in messages: "host group".
func (k Kind) Noun() string {
	switch k {
	case KindProject:
		return "project"
	case KindHost:
		return "host"
	case KindHostGroup:
		return "host group"
	case KindCredential:
		return "credential"
	case KindUser:
		return "user"
	case KindSession:
		return "session"
	case KindToken:
		return "API token"
	case KindAuditEvent:
		return "audit event"
	case KindJob:
		return "job"
	case KindRun:
		return "run"
	case KindStepRun:
		return "step run"
	case KindTask:
		return "task"
	case KindSchedule:
		return "schedule"
	case KindTrigger:
		return "webhook trigger"
	case KindApproval:
		return "approval"
	case KindGuardRule:
		return "guard rule"
	case KindChannel:
		return "notification channel"
	case KindDelivery:
		return "notification"
	}
	return string(k)
}

// idLen is the length of an ID without its prefix: 26 Crockford base32
// characters encoding 48 bits of milliseconds and 80 bits of randomness (the
// ULID layout), so that IDs sort by creation time as plain strings.
const idLen = 26

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idGen struct {
	sync.Mutex
	lastMS  uint64
	lastRnd [10]byte
}

// NewID returns a new ID of kind k, e.g. "hst_01JDQ3Z7V6X9D1S5N0K4B2C8E7".
// IDs made by one process are strictly increasing: within one millisecond the
// random part is incremented instead of drawn again.
func NewID(k Kind) string {
	ms := uint64(time.Now().UnixMilli())
	idGen.Lock()
	if ms <= idGen.lastMS {
		ms = idGen.lastMS
		incr(&idGen.lastRnd)
	} else {
		idGen.lastMS = ms
		if _, err := rand.Read(idGen.lastRnd[:]); err != nil {
			panic("core: crypto/rand failed: " + err.Error()) // never happens on Linux (getrandom)
		}
		idGen.lastRnd[0] &= 0x7f // leave room to increment without overflow
	}
	var raw [16]byte
	binary.BigEndian.PutUint16(raw[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(raw[2:6], uint32(ms))
	copy(raw[6:], idGen.lastRnd[:])
	idGen.Unlock()

	var b strings.Builder
	b.Grow(len(k) + 1 + idLen)
	b.WriteString(string(k))
	b.WriteByte('_')
	// 128 bits as 26 base32 digits, most significant first.
	hi := binary.BigEndian.Uint64(raw[0:8])
	lo := binary.BigEndian.Uint64(raw[8:16])
	b.WriteString(encode128(hi, lo))
	return b.String()
}

func encode128(hi, lo uint64) string {
	var out [idLen]byte
	for i := idLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

func incr(b *[10]byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}

// CheckID reports whether id is a well-formed ID of kind k, as a
// *ValidationError for field. An ID of another kind is reported as such.
func CheckID(field string, k Kind, id string) error {
	prefix, rest, ok := strings.Cut(id, "_")
	if !ok || len(rest) != idLen || !isBase32(rest) {
		return Invalid(field, "malformed %s ID %q", k.Noun(), truncate(id, 64))
	}
	if Kind(prefix) != k {
		return Invalid(field, "%q is not a %s ID", truncate(id, 64), k.Noun())
	}
	return nil
}

// KindOf returns the kind an ID claims by its prefix, or "" if it has none.
func KindOf(id string) Kind {
	prefix, _, ok := strings.Cut(id, "_")
	if !ok {
		return ""
	}
	return Kind(prefix)
}

func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
