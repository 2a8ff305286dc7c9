// Package sshdtest starts a real OpenSSH server (/usr/sbin/sshd) for
// tests, on a random loopback port, with its own host keys, client keys,
// authorized_keys and configuration in a temporary directory. It never
// reads or writes /etc/ssh and never uses port 22. The only things it
// creates outside the temporary directory are sshd's privilege-separation
// directory /run/sshd when it is missing and, when running as root, a
// local test user for password logins (PasswordUser).
package sshdtest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// SSHD is the server binary.
const SSHD = "/usr/sbin/sshd"

// PasswordUser is the local account created (when absent) for password
// logins; it gets a fresh random password per Server.
const PasswordUser = "jobgraph-sshtest"

// Server is a running sshd.
type Server struct {
	Addr string // 127.0.0.1
	Port int
	Dir  string
	// HostKey is the server's ed25519 host key; it also has an ECDSA one,
	// which known_hosts lines built from KnownHosts do not list.
	HostKey gossh.PublicKey
	// KnownHosts is a known_hosts line for the ed25519 host key.
	KnownHosts string
	// ClientKey is an unencrypted private key (OpenSSH PEM) that root may
	// log in with; EncryptedClientKey is the same key encrypted with
	// Passphrase.
	ClientKey          []byte
	EncryptedClientKey []byte
	Passphrase         []byte
	// Password is PasswordUser's password ("" when not running as root).
	Password string
	// Home is the empty directory sshd sets as HOME for sessions.
	Home string
	// FakeBin is on the sessions' PATH first (tests may put programs
	// there, e.g. a fake sudo).
	FakeBin string
	LogPath string

	cmd *exec.Cmd
}

// Start starts an sshd and stops it when the test ends. A missing sshd
// fails the test (it never skips): install openssh-server.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(SSHD); err != nil {
		t.Fatalf("sshdtest: %s not found (CI=%q): install it with `apt-get install -y openssh-server` (.ci/run does)", SSHD, os.Getenv("CI"))
	}
	dir := t.TempDir()
	s := &Server{Addr: "127.0.0.1", Dir: dir, Home: filepath.Join(dir, "home"), FakeBin: filepath.Join(dir, "bin"), LogPath: filepath.Join(dir, "sshd.log")}
	must(t, os.MkdirAll(s.Home, 0o755))
	must(t, os.MkdirAll(s.FakeBin, 0o755))
	// The password user runs what tests put in FakeBin.
	must(t, os.Chmod(dir, 0o755))
	must(t, os.Chmod(filepath.Dir(dir), 0o755))

	// Host keys.
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	writeKey(t, filepath.Join(dir, "host_ed25519"), hostPriv, nil)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	writeKey(t, filepath.Join(dir, "host_ecdsa"), ecPriv, nil)
	hostSigner, err := gossh.NewSignerFromKey(hostPriv)
	must(t, err)
	s.HostKey = hostSigner.PublicKey()

	// Client key, plain and encrypted.
	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	s.ClientKey = writeKey(t, "", clientPriv, nil)
	s.Passphrase = []byte("sshdtest-passphrase-" + rand.Text())
	s.EncryptedClientKey = writeKey(t, "", clientPriv, s.Passphrase)
	clientSigner, err := gossh.NewSignerFromKey(clientPriv)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), gossh.MarshalAuthorizedKey(clientSigner.PublicKey()), 0o644))

	if os.Geteuid() == 0 {
		s.Password = ensureUser(t, PasswordUser)
	}
	if _, err := os.Stat("/run/sshd"); os.IsNotExist(err) {
		must(t, os.MkdirAll("/run/sshd", 0o755))
	}

	var lastErr error
	for range 5 { // a free port can be taken between probe and bind
		s.Port = freePort(t)
		s.KnownHosts = fmt.Sprintf("[%s]:%d %s", s.Addr, s.Port, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(s.HostKey))))
		if lastErr = s.start(t); lastErr == nil {
			return s
		}
	}
	t.Fatalf("sshdtest: start sshd: %v\n%s", lastErr, s.Log())
	return nil
}

func (s *Server) start(t testing.TB) error {
	conf := filepath.Join(s.Dir, "sshd_config")
	config := fmt.Sprintf(`ListenAddress %s
Port %d
HostKey %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 1000:30:2000
MaxSessions 1000
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowTcpForwarding yes
LogLevel VERBOSE
Subsystem sftp internal-sftp
SetEnv HOME=%s PATH=%s:/usr/local/bin:/usr/bin:/bin
`, s.Addr, s.Port, filepath.Join(s.Dir, "host_ed25519"), filepath.Join(s.Dir, "host_ecdsa"),
		filepath.Join(s.Dir, "sshd.pid"), filepath.Join(s.Dir, "authorized_keys"), s.Home, s.FakeBin)
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		return err
	}
	_ = os.Remove(s.LogPath)
	cmd := exec.Command(SSHD, "-D", "-f", conf, "-E", s.LogPath)
	out, err := os.Create(filepath.Join(s.Dir, "sshd.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Wait for the banner, polling until a deadline.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if banner(s.Addr, s.Port) {
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.out"))
			return fmt.Errorf("sshd exited (%v): %s %s", err, b, s.Log())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("sshd did not answer on %s:%d within 10s", s.Addr, s.Port)
		}
	}
	s.cmd = cmd
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the listener; its sessions end with their connections
		<-exited
	})
	return nil
}

// banner reports whether an SSH server answers on addr:port.
func banner(addr string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(addr, strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// Log returns what sshd logged so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Count returns how many log lines contain substr.
func (s *Server) Count(substr string) int {
	n := 0
	for line := range strings.Lines(s.Log()) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// Client dials the server as user with the unencrypted client key,
// checking the host key; for test assertions (pgrep...).
func (s *Server) Client(t testing.TB) *gossh.Client {
	t.Helper()
	signer, err := gossh.ParsePrivateKey(s.ClientKey)
	must(t, err)
	c, err := gossh.Dial("tcp", net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)), &gossh.ClientConfig{
		User:              "root",
		Auth:              []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback:   gossh.FixedHostKey(s.HostKey),
		HostKeyAlgorithms: []string{s.HostKey.Type()},
		Timeout:           10 * time.Second,
	})
	must(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Run runs cmd on c and returns its combined output and error.
func Run(c *gossh.Client, cmd string) (string, error) {
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	return string(out), err
}

// writeKey encodes key as an OpenSSH private key (encrypted when
// passphrase is set), writes it to path unless path is "", and returns it.
func writeKey(t testing.TB, path string, key any, passphrase []byte) []byte {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase != nil {
		block, err = gossh.MarshalPrivateKeyWithPassphrase(key, "", passphrase)
	} else {
		block, err = gossh.MarshalPrivateKey(key, "")
	}
	must(t, err)
	b := pem.EncodeToMemory(block)
	if path != "" {
		must(t, os.WriteFile(path, b, 0o600))
	}
	return b
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var (
	userMu       sync.Mutex
	userPassword string
)

// ensureUser creates a local user (with a home, so that sshd's chdir does
// not complain on stderr) when absent, and sets a random password, once
// per test process (servers started in parallel share it).
func ensureUser(t testing.TB, name string) string {
	userMu.Lock()
	defer userMu.Unlock()
	if userPassword != "" {
		return userPassword
	}
	password := "sshdtest-" + rand.Text()
	if err := exec.Command("id", "-u", name).Run(); err != nil {
		if out, err := exec.Command("useradd", "-m", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
			t.Fatalf("sshdtest: useradd %s: %v: %s", name, err, out)
		}
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(name + ":" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sshdtest: chpasswd %s: %v: %s", name, err, out)
	}
	userPassword = password
	return password
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("sshdtest: %v", err)
	}
}
