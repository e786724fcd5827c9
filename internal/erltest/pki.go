package erltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PKI is a certificate authority made for one test, for distribution
// over TLS: erl reads its PEM files, Go uses Pool and the tls.Certificates.
type PKI struct {
	Dir    string         // where the PEM files are
	CAFile string         // the CA certificate, for erl's cacertfile
	Pool   *x509.CertPool // the CA certificate, for tls.Config
	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	serial int64
}

// Cert is a certificate the PKI issued, with its key.
type Cert struct {
	CertFile string // PEM certificate, for erl's certfile
	KeyFile  string // PEM PKCS #8 key, for erl's keyfile
	TLS      tls.Certificate
}

// NewPKI makes a CA with a new key, its files in a new directory.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "goei test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("NewPKI: %v", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("NewPKI: %v", err)
	}
	p := &PKI{Dir: t.TempDir(), Pool: x509.NewCertPool(), ca: ca, key: key, serial: 1}
	p.Pool.AddCert(ca)
	p.CAFile = writePEM(t, p.Dir, "ca.pem", "CERTIFICATE", der)
	return p
}

// Issue makes a certificate for name, good for TLS servers and clients,
// whose subject alternative names are hosts: IP addresses or DNS names.
func (p *PKI) Issue(t testing.TB, name string, hosts ...string) Cert {
	t.Helper()
	key := newKey(t)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatalf("Issue(%s): %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("Issue(%s): %v", name, err)
	}
	c := Cert{
		CertFile: writePEM(t, p.Dir, name+".pem", "CERTIFICATE", der),
		KeyFile:  writePEM(t, p.Dir, name+"-key.pem", "PRIVATE KEY", keyDER),
	}
	if c.TLS, err = tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		t.Fatalf("Issue(%s): %v", name, err)
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// NeedSSL skips t when erl cannot run distribution over TLS: it has no
// ssl application (Debian's erlang-base without erlang-ssl).
func NeedSSL(t testing.TB) {
	t.Helper()
	if out := Eval(t, 0, `io:format("~p~n", [code:lib_dir(ssl)])`); strings.Contains(out, "bad_name") {
		t.Skip("erl has no ssl application (install erlang-ssl)")
	}
}

// DistOptFile writes an ssl_dist_optfile giving erl cert for server and
// client, checking the peer's certificate against the PKI's CA with
// mutual TLS (verify_peer, fail_if_no_peer_cert) when mutual is set, and
// returns erl's arguments for TLS distribution with it.
func (p *PKI) DistOptFile(t testing.TB, cert Cert, mutual bool) []string {
	t.Helper()
	common := fmt.Sprintf(`{certfile, %q}, {keyfile, %q}, {cacertfile, %q}`, cert.CertFile, cert.KeyFile, p.CAFile)
	server, client := common+`, {verify, verify_none}`, common+`, {verify, verify_none}`
	if mutual {
		server = common + `, {verify, verify_peer}, {fail_if_no_peer_cert, true}`
		client = common + `, {verify, verify_peer}`
	}
	path := filepath.Join(t.TempDir(), "ssl_dist.conf")
	conf := fmt.Sprintf("[{server, [%s]},\n {client, [%s]}].\n", server, client)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"-proto_dist", "inet_tls", "-ssl_dist_optfile", path}
}
