package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// testCert is a self-signed certificate for 127.0.0.1, in PEM.
type testCert struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

func newTestCert(t testing.TB, serial int64) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "statsig-bridge test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		cert:    cert,
	}
}

// write puts the certificate and key in dir, with a modification time of
// at, and returns their paths.
func (c testCert) write(t testing.TB, dir string, at time.Time) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "bridge.crt"), filepath.Join(dir, "bridge.key")
	for p, b := range map[string][]byte{certFile: c.certPEM, keyFile: c.keyPEM} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// tlsClient trusts only roots, on fresh connections each request (so each
// sees the certificate served at that moment).
func tlsClient(roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true, ForceAttemptHTTP2: true}}
}

// TestServeTLS: with tls.cert_file and tls.key_file the bridge serves
// HTTPS only (TLS 1.2 or later, HTTP/2 offered): an SDK request over it is
// stored and delivered, the debugger stays open on loopback and its live
// stream outlives the server's timeouts over HTTP/2 too, plain HTTP and
// TLS 1.1 are refused, and a renewed certificate written over the files is
// served without a restart.
func TestServeTLS(t *testing.T) {
	parallelLong(t)
	dir := t.TempDir()
	first := newTestCert(t, 1)
	certFile, keyFile := first.write(t, dir, time.Now().Add(-time.Minute))
	s := newSink(t)
	cfg := testConfigEnv(t, s.URL, map[string]string{"BRIDGE_WAREHOUSE": "off",
		"BRIDGE_TLS_CERT_FILE": certFile, "BRIDGE_TLS_KEY_FILE": keyFile})
	cfg.Intake.StoreTimeout = time.Second
	cfg.Server.ReadHeaderTimeout, cfg.Server.ReadTimeout, cfg.Server.WriteTimeout = 500*time.Millisecond, time.Second, 2500*time.Millisecond
	cfg.TLS.CheckEvery = 20 * time.Millisecond // a renewal is seen at the next handshake, not a second later
	var logs syncBuffer
	b := startBridgeLogging(t, cfg, &logs)
	base := "https://" + b.Addr.String()
	client := tlsClient(first.cert)
	stream := openLiveStream(t, client, base+"/api/stream")
	streamOpened := time.Now()

	body, markers := sdkBody(1, 0, 3)
	if code, err := postEvents(client, base, body); err != nil || code != http.StatusAccepted {
		t.Fatalf("posting over HTTPS: %d %v", code, err)
	}
	waitDelivered(t, s, map[string]bool{markers[0]: true, markers[1]: true, markers[2]: true}, 10*time.Second)

	resp, err := client.Get(base + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("debugger over HTTPS on loopback: %d %s %+v", resp.StatusCode, resp.Proto, resp.TLS)
	}
	// The stream, opened before the first post, is still open past
	// write_timeout and carries an event posted now. (What is tested is
	// the passing of time: the wait is for the clock to pass the deadline.)
	time.Sleep(time.Until(streamOpened.Add(cfg.Server.WriteTimeout + 500*time.Millisecond)))
	late, _ := sdkBody(2, 0, 1)
	if code, err := postEvents(client, base, late); err != nil || code != http.StatusAccepted {
		t.Fatalf("posting over HTTPS: %d %v", code, err)
	}
	testwait.For(t, 5*time.Second, "the late event on the live stream", func() bool { return strings.Contains(stream(), `"userId":"user-2-0"`) })

	// Plain HTTP is answered 400 by the TLS server, and nothing stored.
	if code, err := postEvents(http.DefaultClient, "http://"+b.Addr.String(), body); code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: %d %v, want 400", code, err)
	}
	old := tlsClient(first.cert)
	old.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS10
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS11
	if _, err := old.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("a TLS 1.1 client: %v, want a protocol version refusal", err)
	}

	// Renewal: a new certificate over the same files, served within a few
	// seconds; a client trusting only the old one is then refused.
	second := newTestCert(t, 2)
	second.write(t, dir, time.Now())
	both := tlsClient(first.cert, second.cert)
	testwait.For(t, 10*time.Second, "the renewed certificate", func() bool {
		resp, err := both.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 2
	})
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("a client trusting only the old certificate still connects")
	}
	if code, err := postEvents(tlsClient(second.cert), base, body); err != nil || code != http.StatusAccepted {
		t.Fatalf("posting with the renewed certificate: %d %v", code, err)
	}

	// A renewal caught half-written (the key not yet matching) keeps the
	// certificate in service.
	third := newTestCert(t, 3)
	if err := os.WriteFile(certFile, third.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// Each request is a new handshake; the bridge looks at the files on one
	// of them, finds the pair not loading and says so in its log.
	const refused = "TLS certificate files changed but do not load"
	testwait.For(t, 10*time.Second, "the bridge to look at the half-written renewal and refuse it", func() bool {
		seen := strings.Contains(logs.String(), refused) // before the handshake: the one after it is checked too
		resp, err := both.Get(base + "/healthz")
		if err != nil {
			t.Fatalf("during a half-written renewal: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); got != 2 {
			t.Fatalf("during a half-written renewal the bridge served certificate %d, want 2", got)
		}
		return seen
	})
}

// TestServeTLSGuardsTheUIOffLoopback: listening on every interface over
// HTTPS, the debugger still needs its token; the cookie it sets is Secure.
func TestServeTLSGuardsTheUIOffLoopback(t *testing.T) {
	parallel(t)
	c := newTestCert(t, 1)
	certFile, keyFile := c.write(t, t.TempDir(), time.Now())
	cfg := testConfigEnv(t, "", map[string]string{"BRIDGE_WAREHOUSE": "off", "BRIDGE_LISTEN": "0.0.0.0:0",
		"STATSIG_API_KEYS": "client-e2e-key", "BRIDGE_UI_TOKEN": "ui-s3cret",
		"BRIDGE_TLS_CERT_FILE": certFile, "BRIDGE_TLS_KEY_FILE": keyFile})
	b := startBridge(t, cfg)
	_, port, _ := net.SplitHostPort(b.Addr.String())
	base := "https://127.0.0.1:" + port // reached over loopback all the same
	client := tlsClient(c.cert)
	resp, err := client.Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the debugger without a token off loopback: %d, want 401", resp.StatusCode)
	}
	resp, err = client.Get(base + "/api/events?token=ui-s3cret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusOK || len(cookies) != 1 || !cookies[0].Secure || !cookies[0].HttpOnly {
		t.Errorf("with the token: %d, cookies %+v; want 200 and a Secure, HttpOnly cookie", resp.StatusCode, cookies)
	}
	body, _ := sdkBody(1, 0, 1)
	if code, err := postEvents(client, base, body); err != nil || code != http.StatusAccepted {
		t.Errorf("intake over HTTPS off loopback: %d %v", code, err)
	}
}

// openLiveStream reads the debugger's live stream at url until the test
// ends; the returned func gives what arrived so far.
func openLiveStream(t *testing.T, client *http.Client, url string) func() string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	c := *client
	c.Timeout = 0 // the stream lasts the test
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		cancel()
		t.Fatalf("live stream: %d %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
	var buf syncBuffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&buf, resp.Body)
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return buf.String
}
