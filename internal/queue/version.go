package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// servers: the one the client is connected to and every one it knows (the
// configured URLs and those the cluster announced). It checks them all at
// connect, then in a goroutine of its own: every versionRecheck, and soon
// after a reconnect or an announcement (poke), so the client's callback
// goroutine never waits on a dial. The verdict is that of the last check:
// an old node that is upgraded or leaves clears it.
type versionGuard struct {
	userInfo *url.Userinfo // the configured URL's credentials, for dialling the others
	logger   *slog.Logger
	every    time.Duration // versionRecheck unless a test sets it
	poked    chan struct{}

	mu      sync.Mutex
	err     error
	started bool // a first check ran (the one at connect refuses, not logs)
}

// versionRecheck is how often every known server is checked again.
const versionRecheck = time.Minute

func newVersionGuard(userInfo *url.Userinfo, logger *slog.Logger) *versionGuard {
	return &versionGuard{userInfo: userInfo, logger: logger, every: versionRecheck, poked: make(chan struct{}, 1)}
}

// verdict is the too-old servers of the last check, or nil.
func (g *versionGuard) verdict() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// poke asks for a check soon (reconnect, a server announced); it never
// blocks.
func (g *versionGuard) poke() {
	select {
	case g.poked <- struct{}{}:
	default:
	}
}

// run checks again until ctx ends; the caller owns the goroutine.
func (g *versionGuard) run(ctx context.Context, nc *nats.Conn) {
	t := time.NewTicker(g.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.poked:
		}
		if nc.Status() == nats.CONNECTED {
			g.checkAll(nc)
		}
	}
}

// checkAll checks the connected server and every other one nc knows, and
// makes the result the verdict, logging when it changes. A server that
// cannot be dialled is logged and not refused: servers often advertise
// addresses only reachable inside their network.
func (g *versionGuard) checkAll(nc *nats.Conn) error {
	var errs []error
	if err := tooOld(nc.ConnectedUrlRedacted(), nc.ConnectedServerVersion()); err != nil {
		errs = append(errs, err)
	}
	connected := hostOf(nc.ConnectedUrl())
	for _, u := range nc.Servers() {
		if hostOf(u) == connected {
			continue
		}
		version, err := g.dialVersion(u)
		if err != nil {
			g.logger.Warn("could not check the version of a NATS server of the cluster", "server", redactedServer(u), "minimum", MinServerVersion, "err", err)
			continue
		}
		if err := tooOld(redactedServer(u), version); err != nil {
			errs = append(errs, err)
		}
	}
	verdict := errors.Join(errs...)
	g.mu.Lock()
	was, started := g.err, g.started
	g.err, g.started = verdict, true
	g.mu.Unlock()
	switch {
	case !started: // Open refuses a bad verdict itself
	case verdict != nil && (was == nil || was.Error() != verdict.Error()):
		g.logger.Error("a NATS server of the log is too old: the log is not trimmed (nothing is purged) until it is upgraded; intake and delivery go on", "err", verdict)
	case verdict == nil && was != nil:
		g.logger.Info("every NATS server of the log is " + MinServerVersion + " or later again: trimming resumes")
	}
	return verdict
}

// hostOf is a server URL's host:port, "" when it does not parse.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// redactedServer is a server URL without its credentials.
func redactedServer(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "a server URL that does not parse"
	}
	u.User = nil
	return u.String()
}

// dialVersion connects to one server alone, reads the version it announces
// and disconnects.
func (g *versionGuard) dialVersion(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("the server URL does not parse")
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
