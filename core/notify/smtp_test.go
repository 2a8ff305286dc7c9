package notify_test

import (
	"bufio"
	"encoding/base64"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
)

// smtpServer is a small SMTP server for tests: EHLO (advertising AUTH
// PLAIN), AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT. failMail answers
// MAIL with 451 (try again later) that many times; every accepted mail is
// sent on mails.
type smtpServer struct {
	addr  string
	mails chan smtpMail

	mu       sync.Mutex
	failMail int
	attempts int // MAIL commands seen
}

// smtpMail is one accepted mail.
type smtpMail struct {
	Auth string // the user AUTH PLAIN gave, "" if none
	Pass string
	From string
	To   []string
	Msg  *mail.Message
	Body string
}

func newSMTPServer(t *testing.T, failMail int) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), mails: make(chan smtpMail, 16), failMail: failMail}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(line string) { _, _ = w.WriteString(line + "\r\n"); _ = w.Flush() }
	say("220 test ESMTP")
	var m smtpMail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			say("250-test")
			say("250 AUTH PLAIN")
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(raw), "\x00")
			if mech != "PLAIN" || err != nil || len(parts) != 3 {
				say("504 unsupported")
				continue
			}
			m.Auth, m.Pass = parts[1], parts[2]
			say("235 ok")
		case "MAIL":
			s.mu.Lock()
			s.attempts++
			fail := s.failMail > 0
			if fail {
				s.failMail--
			}
			s.mu.Unlock()
			if fail {
				say("451 try again later")
				continue
			}
			m.From = strings.Trim(strings.TrimPrefix(arg, "FROM:"), "<>")
			say("250 ok")
		case "RCPT":
			m.To = append(m.To, strings.Trim(strings.TrimPrefix(arg, "TO:"), "<>"))
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			msg, err := mail.ReadMessage(strings.NewReader(b.String()))
			if err != nil {
				say("554 bad message")
				continue
			}
			body := new(strings.Builder)
			_, _ = bufio.NewReader(msg.Body).WriteTo(body)
			m.Msg, m.Body = msg, body.String()
			s.mails <- m
			m = smtpMail{Auth: m.Auth, Pass: m.Pass}
			say("250 queued")
		case "RSET":
			m = smtpMail{Auth: m.Auth, Pass: m.Pass}
			say("250 ok")
		case "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 unknown command")
		}
	}
}

func (s *smtpServer) mailAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}
