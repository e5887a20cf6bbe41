package httpsend

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// Reach connects to the target without sending a request: a TCP
// connection, and for https a TLS handshake that verifies its certificate.
// It tells at start that the address is right and the target up, before an
// event is sent; whether the target takes the credentials only a request
// can tell. Errors name the target as every error of the Sender does.
func (s *Sender) Reach(ctx context.Context) error {
	u, err := url.Parse(s.url)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s: the URL does not parse", s.target)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	// Behind a proxy (HTTPS_PROXY, HTTP_PROXY) the sender goes through it:
	// the first hop to check is the proxy.
	if p, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err == nil && p != nil {
		pport := p.Port()
		if pport == "" {
			pport = "80"
			if p.Scheme == "https" {
				pport = "443"
			}
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Hostname(), pport))
		if err != nil {
			return fmt.Errorf("%s: its proxy is not reachable: %w", s.target, err)
		}
		return conn.Close()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is not reachable: %w", s.target, err)
	}
	defer conn.Close()
	if u.Scheme != "https" {
		return nil
	}
	tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%s: TLS handshake failed: %w", s.target, err)
	}
	return nil
}
