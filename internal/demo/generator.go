package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Generator defaults.
const (
	DefaultSeed          = 42
	DefaultUsers         = 400
	DefaultRate          = 30  // events per second
	DefaultBurst         = 300 // events sent at once at start
	DefaultFlushInterval = time.Second
	// DefaultPoisonEvery: one add_to_cart in this many carries PoisonSKU
	// (at the default rate, about one a minute).
	DefaultPoisonEvery = 150
)

// Generator posts Statsig SDK traffic to a bridge: visits of a fixed
// population of users, written down exactly as the Go server SDK,
// the js-client and the Rust-core Node SDK send them (the Statsig wire formats; testdata/fixtures holds the captures).
// The same seed gives the same users and the same sequence of visits.
type Generator struct {
	// Target is the bridge's base URL, e.g. http://127.0.0.1:8080.
	Target string
	// APIKey is sent by every SDK; empty sends demo keys (a server secret
	// for the server SDKs, a client key for the browser), which a bridge
	// with no STATSIG_API_KEYS on loopback accepts.
	APIKey string
	Client *http.Client
	Seed   uint64
	Users  int
	// Rate is the events per second after the first Burst events.
	Rate  float64
	Burst int
	// FlushInterval is how often the server SDKs flush (the real ones wait
	// 60 s; the demo does not).
	FlushInterval time.Duration
	// PoisonEvery: every PoisonEvery-th add_to_cart carries PoisonSKU;
	// negative: never.
	PoisonEvery int
	Logger      *slog.Logger

	requests, events, failed atomic.Int64
	warnMu                   sync.Mutex
	lastWarn                 time.Time
}

// Stats is what a generator sent so far.
type Stats struct {
	Requests int64 // requests the bridge accepted
	Events   int64 // events in them
	Failed   int64 // requests refused or not answered
}

// Stats returns the counts so far.
func (g *Generator) Stats() Stats {
	return Stats{Requests: g.requests.Load(), Events: g.events.Load(), Failed: g.failed.Load()}
}

func (g *Generator) defaults() {
	if g.Client == nil {
		g.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if g.Users <= 0 {
		g.Users = DefaultUsers
	}
	if g.Rate <= 0 {
		g.Rate = DefaultRate
	}
	if g.Burst <= 0 {
		g.Burst = DefaultBurst
	}
	if g.FlushInterval <= 0 {
		g.FlushInterval = DefaultFlushInterval
	}
	if g.PoisonEvery == 0 {
		g.PoisonEvery = DefaultPoisonEvery
	}
	if g.Logger == nil {
		g.Logger = slog.New(slog.DiscardHandler)
	}
	g.Target = strings.TrimRight(g.Target, "/")
}

// Run sends traffic until ctx is done: first Burst events at once, then
// Rate events per second. Refused requests are counted and logged, not
// retried (a demo need not be lossless).
func (g *Generator) Run(ctx context.Context) error {
	g.defaults()
	rng := rand.New(rand.NewPCG(g.Seed, 0x5eed5eed))
	users := population(rng, g.Users)
	visits := &sessionWriter{rng: rng, poisonEvery: max(g.PoisonEvery, 0)}
	goSession, nodeSession := uuid(rng), uuid(rng)
	initTime := time.Now().UnixMilli()

	var goBuf, nodeBuf []event
	// The Rust core logs its initialisation once per process.
	nodeBuf = append(nodeBuf, event{Name: "statsig::diagnostics", Diagnostics: true, Time: initTime})
	const tick = 200 * time.Millisecond
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	budget := float64(g.Burst)
	lastFlush := time.Now()
	for {
		now := time.Now()
		for budget > 0 && ctx.Err() == nil {
			u := &users[rng.IntN(len(users))]
			evs := visits.session(u, u.SDK, now.UnixMilli())
			budget -= float64(len(evs))
			switch u.SDK {
			case sdkJS:
				// A browser flushes its own events, with its stableID.
				g.send(ctx, sdkJS, evs, func() (*http.Request, error) {
					return g.jsRequest(ctx, evs, u.StableID, uuid(rng), initTime)
				})
			case sdkGo:
				goBuf = append(goBuf, evs...)
			case sdkNodeJS:
				nodeBuf = append(nodeBuf, evs...)
			}
		}
		if now.Sub(lastFlush) >= g.FlushInterval || len(goBuf) >= 1000 || len(nodeBuf) >= 2000 {
			lastFlush = now
			if len(goBuf) > 0 {
				evs := goBuf
				g.send(ctx, sdkGo, evs, func() (*http.Request, error) { return g.goRequest(ctx, evs, goSession, initTime) })
				goBuf = nil
			}
			if len(nodeBuf) > 0 {
				evs := nodeBuf
				g.send(ctx, sdkNodeJS, evs, func() (*http.Request, error) { return g.nodeRequest(ctx, evs, nodeSession, initTime) })
				nodeBuf = nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			budget += g.Rate * tick.Seconds()
		}
	}
}

func (g *Generator) key(server bool) string {
	switch {
	case g.APIKey != "":
		return g.APIKey
	case server:
		return "secret-demo-server-0000000000000000"
	}
	return "client-demo-web-00000000000000000000"
}

// goRequest is the Go SDK's POST /v1/log_event: gzip, upper-case headers,
// STATSIG-CLIENT-TIME.
func (g *Generator) goRequest(ctx context.Context, evs []event, session string, initTime int64) (*http.Request, error) {
	body, err := goBody(evs, session, initTime)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.Target+"/v1/log_event", bytes.NewReader(gzipped(body)))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Type", "application/json")
	h.Set("STATSIG-API-KEY", g.key(true))
	h.Set("STATSIG-CLIENT-TIME", ms(time.Now().UnixMilli()))
	h.Set("STATSIG-EVENT-COUNT", strconv.Itoa(len(evs)))
	h.Set("STATSIG-SDK-LANGUAGE-VERSION", goLanguage)
	h.Set("STATSIG-SDK-TYPE", "go-sdk")
	h.Set("STATSIG-SDK-VERSION", goSDKVersion)
	h.Set("STATSIG-SERVER-SESSION-ID", session)
	h.Set("User-Agent", "Go-http-client/1.1")
	return req, nil
}

// jsRequest is the js-client's POST /v1/rgstr: key, client time and the
// gzip flag in the query, gzip without Content-Encoding or Content-Type.
func (g *Generator) jsRequest(ctx context.Context, evs []event, stableID, session string, initTime int64) (*http.Request, error) {
	body, err := jsBody(evs, stableID, session, initTime)
	if err != nil {
		return nil, err
	}
	// In the SDK's order (url.Values.Encode would sort them).
	query := "k=" + url.QueryEscape(g.key(false)) + "&st=" + jsSDKType + "&sv=" + jsSDKVersion +
		"&t=" + ms(time.Now().UnixMilli()) + "&sid=" + session + "&ec=" + strconv.Itoa(len(evs)) + "&gz=1"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.Target+"/v1/rgstr?"+query, bytes.NewReader(gzipped(body)))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("statsig-event-count", strconv.Itoa(len(evs)))
	h.Set("statsig-retry-count", "0")
	h.Set("statsig-sdk-type", jsSDKType)
	h.Set("statsig-sdk-version", jsSDKVersion)
	h.Set("Accept", "*/*")
	h.Set("User-Agent", browserUserAgent)
	return req, nil
}

// nodeRequest is the Rust core's POST /v1/log_event: zstd, lower-case headers.
func (g *Generator) nodeRequest(ctx context.Context, evs []event, session string, initTime int64) (*http.Request, error) {
	body, err := nodeBody(evs, session, "scheduled:max_time", initTime)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.Target+"/v1/log_event", bytes.NewReader(zstdEncoder.EncodeAll(body, nil)))
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("content-type", "application/json")
	h.Set("content-encoding", "zstd")
	h.Set("statsig-api-key", g.key(true))
	h.Set("statsig-server-session-id", session)
	h.Set("statsig-retry-count", "0")
	h.Set("statsig-sdk-version", nodeSDKVersion)
	h.Set("x-request-service", "demo-shop-api")
	h.Set("statsig-client-time", ms(time.Now().UnixMilli()))
	h.Set("statsig-sdk-type", nodeSDKType)
	h.Set("statsig-event-count", strconv.Itoa(len(evs)))
	h.Set("accept-encoding", "gzip, br")
	return req, nil
}

// send posts one request and counts the answer.
func (g *Generator) send(ctx context.Context, s sdk, evs []event, build func() (*http.Request, error)) {
	req, err := build()
	if err != nil {
		g.failed.Add(1)
		g.warn("building a demo request failed", "err", err)
		return
	}
	resp, err := g.Client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.failed.Add(1)
			g.warn("posting demo events to the bridge failed", "err", err)
		}
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var a struct {
		Rejected int `json:"rejected"`
	}
	_ = json.Unmarshal(answer, &a)
	if resp.StatusCode/100 != 2 || a.Rejected > 0 {
		g.failed.Add(1)
		g.warn("the bridge refused demo events", "sdk", sdkNames[s], "status", resp.StatusCode, "answer", strings.TrimSpace(string(answer)))
		return
	}
	g.requests.Add(1)
	g.events.Add(int64(len(evs)))
}

var sdkNames = map[sdk]string{sdkGo: "go-sdk", sdkJS: jsSDKType, sdkNodeJS: nodeSDKType}

// warn logs at most one warning every 10 s: a stopped bridge must not
// flood the log.
func (g *Generator) warn(msg string, args ...any) {
	g.warnMu.Lock()
	defer g.warnMu.Unlock()
	if time.Since(g.lastWarn) < 10*time.Second {
		return
	}
	g.lastWarn = time.Now()
	g.Logger.Warn("demo: "+msg, args...)
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

// String describes the generator for logs.
func (g *Generator) String() string {
	return fmt.Sprintf("%d users, seed %d, %g events/s after %d at start", g.Users, g.Seed, g.Rate, g.Burst)
}
