package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
)

// writePair writes a self-signed certificate and its key to dir.
func writePair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func TestServerDefaultsAndTLSFromEnv(t *testing.T) {
	cfg, err := config.FromEnv(env{"BRIDGE_WAREHOUSE": "off"}.get)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Server; s.ReadHeaderTimeout != 10*time.Second || s.ReadTimeout != time.Minute || s.WriteTimeout != 90*time.Second ||
		s.IdleTimeout != 2*time.Minute || s.MaxHeaderBytes != 64<<10 || cfg.TLS.On() {
		t.Errorf("defaults: %+v %+v", s, cfg.TLS)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("defaults do not validate: %q", p)
	}
	certFile, keyFile := writePair(t, t.TempDir(), "bridge")
	cfg, err = config.FromEnv(env{"BRIDGE_WAREHOUSE": "off", "BRIDGE_TLS_CERT_FILE": certFile, "BRIDGE_TLS_KEY_FILE": keyFile}.get)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.TLS.On() || cfg.TLS.CertFile != certFile || cfg.TLS.KeyFile != keyFile {
		t.Errorf("TLS from env: %+v", cfg.TLS)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("a valid pair does not validate: %q", p)
	}
}

// TestValidateServerAndTLS: each problem is named with the key and, for
// files, the file.
func TestValidateServerAndTLS(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := writePair(t, dir, "a")
	_, keyB := writePair(t, dir, "b")
	missing := filepath.Join(dir, "missing.crt")
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"cert without key", "tls: {cert_file: " + certA + "}", []string{"tls.key_file: missing (BRIDGE_TLS_KEY_FILE)"}},
		{"key without cert", "tls: {key_file: " + keyA + "}", []string{"tls.cert_file: missing (BRIDGE_TLS_CERT_FILE)"}},
		{"no such file", "tls: {cert_file: " + missing + ", key_file: " + keyA + "}", []string{"tls.cert_file: open " + missing + ": no such file"}},
		{"a directory", "tls: {cert_file: " + certA + ", key_file: " + dir + "}", []string{"tls.key_file: read " + dir + ": is a directory"}},
		{"key of another certificate", "tls: {cert_file: " + certA + ", key_file: " + keyB + "}",
			[]string{"tls: cert_file " + certA + " and key_file " + keyB + " are not a usable certificate and key", "private key does not match"}},
		{"key and certificate swapped", "tls: {cert_file: " + keyA + ", key_file: " + certA + "}", []string{"tls: cert_file " + keyA}},
		{"write_timeout too short", "server: {read_timeout: 30s, write_timeout: 30s}", []string{"server.write_timeout: 30s must be longer than server.read_timeout + intake.store_timeout (35s)"}},
		{"header timeout over read timeout", "server: {read_header_timeout: 2m, read_timeout: 1m}", []string{"server.read_header_timeout: 2m0s is longer than server.read_timeout"}},
		{"tiny header limit", "server: {max_header_bytes: 100}", []string{"server.max_header_bytes: 100 is below 4096"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := load(t, c.yaml+"\n", env{})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(cfg.Validate(), "\n")
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q lack %q", got, w)
				}
			}
		})
	}
}
