package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertFile serves a TLS certificate from PEM files and picks up a renewed
// one without a restart: on a handshake, at most once a second (the
// interval LoadCertFile is given), it looks at the files' modification
// times and sizes and re-reads them when either changed. A pair that does
// not load (a renewal caught between writing the certificate and the key)
// keeps the previous certificate in service and is tried again on the next
// check.
type CertFile struct {
	certPath, keyPath string
	every             time.Duration
	logger            *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// DefaultCertCheckEvery spaces the looks at the files: a renewal is served
// within a second, and a busy server stats the files once a second at most.
const DefaultCertCheckEvery = time.Second

// LoadCertFile loads the certificate and key; the error names the files.
// The files are looked at again at most once every checkEvery (zero:
// DefaultCertCheckEvery).
func LoadCertFile(certPath, keyPath string, checkEvery time.Duration, logger *slog.Logger) (*CertFile, error) {
	if checkEvery <= 0 {
		checkEvery = DefaultCertCheckEvery
	}
	c := &CertFile{certPath: certPath, keyPath: keyPath, every: checkEvery, logger: logger}
	stamp, err := c.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate %s and key %s: %w", certPath, keyPath, err)
	}
	c.cert, c.stamp, c.checked = &cert, stamp, time.Now()
	return c, nil
}

// TLSConfig is the server's TLS configuration: TLS 1.2 or later, the
// certificate from the files.
func (c *CertFile) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
}

// GetCertificate is tls.Config.GetCertificate.
func (c *CertFile) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); now.Sub(c.checked) >= c.every {
		c.checked = now
		c.reload()
	}
	return c.cert, nil
}

// reload re-reads the files if they changed since the last load.
func (c *CertFile) reload() {
	stamp, err := c.stat()
	if err != nil {
		c.logger.Warn("TLS certificate files unreadable; serving the certificate loaded before", "err", err)
		return
	}
	if stamp == c.stamp {
		return
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		c.logger.Warn("TLS certificate files changed but do not load; serving the certificate loaded before",
			"cert_file", c.certPath, "key_file", c.keyPath, "err", err)
		return
	}
	c.cert, c.stamp = &cert, stamp
	c.logger.Info("TLS certificate reloaded", "cert_file", c.certPath)
}

func (c *CertFile) stat() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, p := range []string{c.certPath, c.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return s, fmt.Errorf("TLS file: %w", err) // *PathError names the file
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}
