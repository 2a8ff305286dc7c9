package wsmantest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4" //nolint:staticcheck // NTLM is defined with MD4
)

// The server side of NTLMv2 ([MS-NLMP] 3.2.5): NEGOTIATE in, CHALLENGE
// out, AUTHENTICATE in, verified against the configured password. Only
// authentication: no signing, sealing or session-key exchange (so no
// WinRM message encryption over HTTP, which Windows requires by default
// with NTLM over HTTP unless AllowUnencrypted is set).

const ntlmTargetName = "WSMANTEST"

const (
	flagUnicode         = 0x00000001
	flagRequestTarget   = 0x00000004
	flagNTLM            = 0x00000200
	flagAlwaysSign      = 0x00008000
	flagTargetTypeDom   = 0x00010000
	flagExtendedSession = 0x00080000
	flagTargetInfo      = 0x00800000
	flag128             = 0x20000000
	flag56              = 0x80000000
)

var ntlmSignature = []byte("NTLMSSP\x00")

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// ntlm handles one leg of the handshake on a connection: for a NEGOTIATE
// it returns the CHALLENGE to send; for an AUTHENTICATE, whether it
// proves the password.
func (cs *connState) ntlm(token []byte, username, password string) (challenge []byte, ok bool, err error) {
	if len(token) < 12 || !bytes.Equal(token[:8], ntlmSignature) {
		return nil, false, errNTLM
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch binary.LittleEndian.Uint32(token[8:12]) {
	case 1:
		cs.challenge = make([]byte, 8)
		_, _ = rand.Read(cs.challenge)
		return challengeMessage(cs.challenge), false, nil
	case 3:
		if cs.challenge == nil {
			return nil, false, errNTLM
		}
		user, ok := verifyAuthenticate(token, cs.challenge, username, password)
		cs.challenge = nil
		if ok {
			cs.ntlmUser = user
		}
		return nil, ok, nil
	}
	return nil, false, errNTLM
}

func (cs *connState) authenticated() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.ntlmUser != ""
}

func challengeMessage(serverChallenge []byte) []byte {
	target := utf16le(ntlmTargetName)
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(2, target) // MsvAvNbDomainName
	av(1, target) // MsvAvNbComputerName
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, uint64(time.Now().UnixNano()/100)+116444736000000000)
	av(7, ts) // MsvAvTimestamp
	av(0, nil)

	const header = 48 // up to TargetInfo's field; no Version
	var m bytes.Buffer
	m.Write(ntlmSignature)
	_ = binary.Write(&m, binary.LittleEndian, uint32(2))
	_ = binary.Write(&m, binary.LittleEndian, uint16(len(target)))
	_ = binary.Write(&m, binary.LittleEndian, uint16(len(target)))
	_ = binary.Write(&m, binary.LittleEndian, uint32(header))
	_ = binary.Write(&m, binary.LittleEndian, uint32(flagUnicode|flagRequestTarget|flagNTLM|flagAlwaysSign|flagTargetTypeDom|flagExtendedSession|flagTargetInfo|flag128|flag56))
	m.Write(serverChallenge)
	m.Write(make([]byte, 8))
	_ = binary.Write(&m, binary.LittleEndian, uint16(info.Len()))
	_ = binary.Write(&m, binary.LittleEndian, uint16(info.Len()))
	_ = binary.Write(&m, binary.LittleEndian, uint32(header+len(target)))
	m.Write(target)
	m.Write(info.Bytes())
	return m.Bytes()
}

// field reads the variable-length field whose descriptor is at off.
func field(msg []byte, off int) ([]byte, bool) {
	if len(msg) < off+8 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint16(msg[off:]))
	at := int(binary.LittleEndian.Uint32(msg[off+4:]))
	if at < 0 || at+n > len(msg) {
		return nil, false
	}
	return msg[at : at+n], true
}

func verifyAuthenticate(msg, serverChallenge []byte, username, password string) (string, bool) {
	nt, ok1 := field(msg, 20)
	domain, ok2 := field(msg, 28)
	user, ok3 := field(msg, 36)
	if !ok1 || !ok2 || !ok3 || len(nt) <= 16 {
		return "", false // NTLMv1 and anonymous are refused
	}
	name := fromUTF16le(user)
	want := username
	if _, u, found := strings.Cut(want, `\`); found {
		want = u
	}
	if !strings.EqualFold(name, want) {
		return "", false
	}
	h := md4.New()
	h.Write(utf16le(password))
	key := hmacMD5(h.Sum(nil), utf16le(strings.ToUpper(name)+fromUTF16le(domain)))
	proof := hmacMD5(key, serverChallenge, nt[16:])
	return name, hmac.Equal(proof, nt[:16])
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}
