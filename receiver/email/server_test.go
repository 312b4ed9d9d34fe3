package email

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	testUser     = "alerts@example.com"
	testPassword = "s3cr3t-Pa55word!"
)

// received is one message as the server stored it.
type received struct {
	from   string
	to     []string
	data   []byte
	helo   string
	authed string // the mechanism that succeeded, "" without AUTH
	tls    bool   // whether the transaction ran over TLS
}

// backend is a real SMTP server's state: what it accepted and how it was
// told to fail. Tests read it after Notify returns; the server records a
// message before it replies to DATA, so no wait is needed.
type backend struct {
	mechs []string // advertised AUTH mechanisms
	fail  map[string]*smtp.SMTPError
	// echo makes authentication failures quote the password back, as
	// careless servers do, to prove Notify redacts it.
	echo bool
	// discard keeps no message, for benchmarks.
	discard bool

	mu       sync.Mutex
	msgs     []received
	attempts []string // AUTH mechanisms the client started
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{b: b, conn: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

func (b *backend) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs, b.attempts = nil, nil
}

func (b *backend) authAttempts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.attempts...)
}

type session struct {
	b      *backend
	conn   *smtp.Conn
	authed string
	cur    received
}

func (s *session) AuthMechanisms() []string { return s.b.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.b.mu.Lock()
	s.b.attempts = append(s.b.attempts, mech)
	s.b.mu.Unlock()
	check := func(user, pass string) error {
		if user != testUser || pass != testPassword {
			if s.b.echo {
				return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "rejected " + user + " with password " + pass}
			}
			return smtp.ErrAuthFailed
		}
		s.authed = mech
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case "LOGIN":
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if err := s.b.fail["mail"]; err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = received{from: from, helo: s.conn.Hostname(), authed: s.authed, tls: isTLS}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.b.fail["rcpt"]; err != nil {
		return err
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.b.fail["data"]; err != nil {
		return err
	}
	s.cur.data = data
	if s.b.discard {
		return nil
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl no longer
// ships.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

// tlsMode is how the test server offers TLS.
type tlsMode int

const (
	noTLS tlsMode = iota
	startTLS
	implicitTLS
)

// testServer is a go-smtp server on 127.0.0.1.
type testServer struct {
	*backend
	addr   string
	caFile string // the server certificate, to trust it
}

// startServer serves b until the test ends. insecureAuth lets the server
// offer AUTH without TLS, which a client must still refuse to a remote host.
func startServer(tb testing.TB, b *backend, mode tlsMode, insecureAuth bool) *testServer {
	tb.Helper()
	if b.mechs == nil {
		b.mechs = []string{"PLAIN", "LOGIN"}
	}
	s := smtp.NewServer(b)
	s.Domain = "mx.test"
	s.AllowInsecureAuth = insecureAuth
	s.ErrorLog = log.New(io.Discard, "", 0)
	// A client that stalls must not outlive the test.
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cert := testCert(tb)
	conf := &tls.Config{Certificates: []tls.Certificate{cert.pair}}
	switch mode {
	case startTLS:
		s.TLSConfig = conf
	case implicitTLS:
		l = tls.NewListener(l, conf)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	tb.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	caFile := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, cert.pem, 0o600); err != nil {
		tb.Fatal(err)
	}
	return &testServer{backend: b, addr: l.Addr().String(), caFile: caFile}
}

type certificate struct {
	pair tls.Certificate
	pem  []byte
}

// testCert is one self-signed certificate for the whole test binary, valid
// for 127.0.0.1, localhost and mail.example.com.
var testCert = func() func(testing.TB) certificate {
	once := sync.OnceValues(func() (certificate, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return certificate{}, err
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "gatewarden test SMTP"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:              []string{"localhost", "mail.example.com"},
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return certificate{}, err
		}
		return certificate{
			pair: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
			pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		}, nil
	})
	return func(tb testing.TB) certificate {
		c, err := once()
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
}()

// rawServer accepts connections and hands each to handle, for servers
// go-smtp will not impersonate: one that refuses at the greeting, one that
// never speaks.
func rawServer(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
	})
	return l.Addr().String()
}
