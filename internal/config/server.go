package config

import (
	"crypto/tls"
	"net"
	"os"
	"time"
)

// HTTP server defaults.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 60 * time.Second
	DefaultWriteTimeout      = 90 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	// DefaultMaxHeaderBytes is far above what any SDK sends (a browser
	// beacon carries the site's cookies: 64 KiB is twice nginx's default).
	DefaultMaxHeaderBytes = 64 << 10
)

// Server bounds what one HTTP client may hold: the time to send its
// headers and its body, the time to take its answer, an idle keep-alive
// connection, the size of its headers. A client slower than these is cut
// off, so a slow or stalled sender costs a connection for a bounded time
// and never an intake slot (bodies are read before a slot is taken).
type Server struct {
	// ReadHeaderTimeout bounds sending the request line and headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" json:"read_header_timeout"`
	// ReadTimeout bounds sending the headers and the body; a body not
	// complete by then is answered 408.
	ReadTimeout time.Duration `yaml:"read_timeout" json:"read_timeout"`
	// WriteTimeout runs from the end of the headers, through the body and
	// the durable write, to the end of the answer: it must exceed
	// ReadTimeout plus intake.store_timeout. The debugger's live stream and
	// re-drive set their own deadlines.
	WriteTimeout time.Duration `yaml:"write_timeout" json:"write_timeout"`
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// MaxHeaderBytes bounds the request line and headers; larger ones are
	// answered 431.
	MaxHeaderBytes int `yaml:"max_header_bytes" json:"max_header_bytes"`
}

// TLS serves HTTPS (TLS 1.2 or later) from PEM files. A renewed
// certificate written over the files is picked up without a restart.
type TLS struct {
	// CertFile is the certificate chain, leaf first (BRIDGE_TLS_CERT_FILE).
	CertFile string `yaml:"cert_file" json:"cert_file"`
	// KeyFile is its private key (BRIDGE_TLS_KEY_FILE).
	KeyFile string `yaml:"key_file" json:"key_file"`
	// CheckEvery spaces the looks at the files for a renewal (zero:
	// server.DefaultCertCheckEvery, once a second). Not read from the
	// file or the environment: the tests set it to see a renewal sooner.
	CheckEvery time.Duration `yaml:"-" json:"-"`
}

// On reports whether HTTPS is configured (either file set; Validate
// requires both).
func (t TLS) On() bool { return t.CertFile != "" || t.KeyFile != "" }

func (s *Server) applyDefaults() {
	dur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	dur(&s.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	dur(&s.ReadTimeout, DefaultReadTimeout)
	dur(&s.WriteTimeout, DefaultWriteTimeout)
	dur(&s.IdleTimeout, DefaultIdleTimeout)
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
}

// validateServer checks the server section and the TLS files: both set,
// readable, and a matching pair, each problem naming the file.
func (c *Config) validateServer(add func(format string, a ...any)) {
	s := c.Server
	if s.ReadHeaderTimeout > s.ReadTimeout {
		add("server.read_header_timeout: %s is longer than server.read_timeout (%s), which covers the headers too", s.ReadHeaderTimeout, s.ReadTimeout)
	}
	if need := s.ReadTimeout + c.Intake.StoreTimeout; s.WriteTimeout <= need {
		add("server.write_timeout: %s must be longer than server.read_timeout + intake.store_timeout (%s): it runs from the end of the headers through the body and the durable write to the answer", s.WriteTimeout, need)
	}
	if s.MaxHeaderBytes < 4<<10 {
		add("server.max_header_bytes: %d is below 4096; SDK requests would be refused", s.MaxHeaderBytes)
	}
	t := c.TLS
	if !t.On() {
		return
	}
	if t.CertFile == "" {
		add("tls.cert_file: missing (BRIDGE_TLS_CERT_FILE); tls.key_file %s is set", t.KeyFile)
	}
	if t.KeyFile == "" {
		add("tls.key_file: missing (BRIDGE_TLS_KEY_FILE); tls.cert_file %s is set", t.CertFile)
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return
	}
	certPEM, certErr := os.ReadFile(t.CertFile)
	if certErr != nil {
		add("tls.cert_file: %v", certErr) // *PathError names the file
	}
	keyPEM, keyErr := os.ReadFile(t.KeyFile)
	if keyErr != nil {
		add("tls.key_file: %v", keyErr)
	}
	if certErr == nil && keyErr == nil {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			add("tls: cert_file %s and key_file %s are not a usable certificate and key: %v", t.CertFile, t.KeyFile, err)
		}
	}
}

// IsLoopback reports whether a listen address only accepts local peers:
// such an address may go without SDK keys, and the debugger on it without
// a token.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
