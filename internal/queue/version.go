package queue

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// MinServerVersion is the oldest nats-server the bridge runs on.
//
// Before 2.9.15 a stream purge made every consumer of the stream forget all
// the batches it had handed out but not yet seen acked, whatever their
// sequence (nats-server consumer.purge set its pending map to nil; fixed in
// nats-server PR #3892, released in 2.9.15). The bridge trims its log with
// purges of what every destination has acked, so on such a server a batch
// that a bridge process held when the trimmer ran is never delivered again
// if that process dies: acknowledged events are lost. Measured on Debian
// 12's 2.9.10 with two processes and one killed: thousands of events.
const MinServerVersion = "2.9.15"

// ErrServerTooOld is in the chain of the error Open (and later Ready)
// returns when a NATS server of the log is older than [MinServerVersion].
var ErrServerTooOld = errors.New("nats-server is too old for the bridge")

// versionCheckTimeout bounds dialling one discovered server of a cluster to
// read its version.
const versionCheckTimeout = 3 * time.Second

// CheckServerVersion is nil when a nats-server announcing version (at
// server, for the message) is one the log runs on, and an error wrapping
// [ErrServerTooOld] that names both versions and why otherwise.
func CheckServerVersion(server, version string) error { return tooOld(server, version) }

// tooOld reports whether version (as a server announces it: "2.9.10",
// "2.11.0-RC.1") is below [MinServerVersion], with the error saying which
// server, its version, the minimum and why. A version that does not parse
// is not refused: it is a build the check cannot place.
func tooOld(server, version string) error {
	v, ok := parseVersion(version)
	if !ok {
		return nil
	}
	minimum, _ := parseVersion(MinServerVersion)
	for i := range v {
		if v[i] != minimum[i] {
			if v[i] > minimum[i] {
				return nil
			}
			return fmt.Errorf("%w: nats-server %s at %s is older than %s, the oldest the bridge supports: before %s a purge of the stream (the bridge's log trimming) makes a consumer forget the batches it handed out but not yet acked, so acknowledged events can be lost when a bridge dies; upgrade the NATS servers to %s or later",
				ErrServerTooOld, version, server, MinServerVersion, MinServerVersion, MinServerVersion)
		}
	}
	return nil
}

// parseVersion reads "major.minor.patch" with any pre-release or build
// suffix ignored.
func parseVersion(s string) ([3]int, bool) {
	var out [3]int
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+ "); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// versionGuard keeps the verdict on the versions of the external NATS
// servers the log has seen: at connect, on every reconnect and whenever the
// cluster announces a server the client had not known. The first server
// found too old stays the verdict (for /readyz) until the process restarts.
type versionGuard struct {
	userInfo *url.Userinfo // the configured URL's credentials, for dialling discovered servers
	logf     func(err error)

	mu      sync.Mutex
	err     error
	checked map[string]bool // discovered URLs already dialled
}

// check records the verdict on one server's version.
func (g *versionGuard) check(server, version string) error {
	err := tooOld(server, version)
	if err == nil {
		return nil
	}
	g.mu.Lock()
	first := g.err == nil
	if first {
		g.err = err
	}
	g.mu.Unlock()
	if first && g.logf != nil {
		g.logf(err)
	}
	return err
}

// verdict is the first too-old server found, or nil.
func (g *versionGuard) verdict() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// checkConn checks the server nc is connected to and every server of its
// cluster that nc has discovered and not been checked yet. A discovered
// server that cannot be dialled is reported through warn and not refused:
// servers often advertise addresses only reachable inside their network.
func (g *versionGuard) checkConn(nc *nats.Conn, warn func(url string, err error)) error {
	if err := g.check(nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion()); err != nil {
		return err
	}
	var errs []error
	for _, u := range nc.DiscoveredServers() {
		g.mu.Lock()
		seen := g.checked[u]
		g.checked[u] = true
		g.mu.Unlock()
		if seen {
			continue
		}
		version, err := g.dialVersion(u)
		if err != nil {
			if warn != nil {
				warn(u, err)
			}
			continue
		}
		if err := g.check(u, version); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dialVersion connects to one server alone, reads the version it announces
// and disconnects.
func (g *versionGuard) dialVersion(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parsing discovered server URL: %w", err)
	}
	if u.User == nil && g.userInfo != nil {
		u.User = g.userInfo
	}
	nc, err := nats.Connect(u.String(),
		nats.Name("statsig-bridge version check"),
		nats.NoReconnect(),
		nats.DontRandomize(),
		nats.Timeout(versionCheckTimeout),
		nats.IgnoreDiscoveredServers(),
	)
	if err != nil {
		return "", fmt.Errorf("connecting to read its version: %w", err)
	}
	defer nc.Close()
	return nc.ConnectedServerVersion(), nil
}

// userInfoOf is the credentials of the first URL of a comma-separated list.
func userInfoOf(urls string) *url.Userinfo {
	first, _, _ := strings.Cut(urls, ",")
	u, err := url.Parse(strings.TrimSpace(first))
	if err != nil {
		return nil
	}
	return u.User
}
