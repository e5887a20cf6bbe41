package debugger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/destination"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Destination is what the delivery view and the re-drive need of a
// destination's delivery loop (*destination.Runner).
type Destination interface {
	Name() string
	Status() (paused bool, lastError string)
	Health() destination.Health
	Retrying() int64
	// Yielding says a warehouse is giving way to intake and streaming
	// delivery (warehouse.max_lag).
	Yielding() bool
	Lag(ctx context.Context) (uint64, error)
	Redrive(ctx context.Context, max int) (destination.RedriveResult, error)
}

// Options configure a Debugger.
type Options struct {
	// Config is the effective configuration (/api/config shows it masked;
	// destination types come from it).
	Config *config.Config
	// Destinations are the delivery loops, in configuration order.
	Destinations []Destination
	// Capacity is the number of recent events kept (DefaultCapacity).
	Capacity int
	// MaxStreamRate bounds the events per second sent to one live-view
	// client (default 20: a human reads far fewer, and a watching browser
	// must cost little); the rest are counted as dropped.
	MaxStreamRate int
	// RedriveMax bounds the dead letters one re-drive takes (default 10,000).
	RedriveMax int
	// RedriveTimeout bounds a re-drive request (default 2 min); dead
	// letters not settled by then stay.
	RedriveTimeout time.Duration
	Logger         *slog.Logger
}

// Debugger is the recorder plus its HTTP API and pages.
type Debugger struct {
	*Recorder
	opts  Options
	types map[string]string
	mux   *http.ServeMux

	done     chan struct{}
	shutOnce sync.Once
	// proc names this process's statistics records (KeepStats);
	// statsSeq numbers them and unstored holds those not stored yet, both
	// owned by KeepStats' goroutine.
	proc     string
	statsSeq uint64
	unstored []*minuteRecord
}

// New returns a Debugger; hand it to the server as its Observer and to
// every runner with SetObserver.
func New(opts Options) *Debugger {
	if opts.MaxStreamRate <= 0 {
		opts.MaxStreamRate = 20
	}
	if opts.RedriveMax <= 0 {
		opts.RedriveMax = 10_000
	}
	if opts.RedriveTimeout <= 0 {
		opts.RedriveTimeout = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	names := make([]string, len(opts.Destinations))
	for i, d := range opts.Destinations {
		names[i] = d.Name()
	}
	d := &Debugger{Recorder: NewRecorder(names, opts.Capacity), opts: opts, types: map[string]string{}, done: make(chan struct{}), proc: newProcessID()}
	if opts.Config != nil {
		for _, c := range opts.Config.Destinations {
			d.types[c.Name] = c.Type
		}
	}
	d.mux = http.NewServeMux()
	d.mux.HandleFunc("GET /api/events", d.handleEvents)
	d.mux.HandleFunc("GET /api/events/{id}", d.handleEvent)
	d.mux.HandleFunc("GET /api/stream", d.handleStream)
	d.mux.HandleFunc("GET /api/delivery", d.handleDelivery)
	d.mux.HandleFunc("GET /api/delivery/{name}/reasons/{kind}/{reason}", d.handleSamples)
	d.mux.HandleFunc("POST /api/destinations/{name}/redrive", d.handleRedrive)
	d.mux.HandleFunc("GET /api/config", d.handleConfig)
	d.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such debugger API: " + r.Method + " " + r.URL.Path})
	})
	d.mux.Handle("GET /{$}", pages())
	d.mux.Handle("GET /ui/", pages())
	return d
}

// Handler serves the pages and the API, without access control.
func (d *Debugger) Handler() http.Handler { return d.mux }

// Shutdown ends the live streams (the HTTP server waits for no one);
// register it with http.Server.RegisterOnShutdown.
func (d *Debugger) Shutdown() { d.shutOnce.Do(func() { close(d.done) }) }

// Mounter is the bridge's server (server.Server.Handle).
type Mounter interface {
	Handle(pattern string, h http.Handler)
}

// Mount adds the pages and the API to the server behind access.
func (d *Debugger) Mount(m Mounter, access Access) {
	h := access.Wrap(d.mux)
	m.Handle("GET /{$}", h)
	m.Handle("GET /ui/", h)
	m.Handle("/api/", h)
}

// summary is an event in the list and the live stream.
type summary struct {
	ID         string            `json:"id"`
	ReceivedAt string            `json:"receivedAt"`
	EventName  string            `json:"eventName"`
	Kind       statsig.Kind      `json:"kind"`
	UserID     string            `json:"userId"`
	StableID   string            `json:"stableId"`
	Source     statsig.Source    `json:"source"`
	SDKType    string            `json:"sdkType"`
	Outcomes   map[string]string `json:"outcomes"`
}

func (d *Debugger) summarize(rec *record) summary {
	s := summary{
		ID: rec.ev.ID, ReceivedAt: formatTime(time.UnixMilli(rec.batch.ReceivedAt)), EventName: rec.ev.EventName,
		Kind: statsig.KindOf(rec.ev.EventName), StableID: rec.batch.StableIDOf(rec.ev), Source: rec.batch.Source,
		SDKType: rec.batch.SDKType, Outcomes: make(map[string]string, len(d.dests)),
	}
	if rec.ev.User != nil {
		s.UserID = string(rec.ev.User.UserID)
	}
	for i, name := range d.dests {
		s.Outcomes[name] = statusNames[rec.outs[i].status]
	}
	return s
}

// rawJSON returns the event as received, encoding it once.
func (d *Debugger) rawJSON(rec *record) []byte {
	if rec.raw != nil {
		return rec.raw
	}
	raw, err := json.Marshal(rec.ev)
	if err != nil {
		raw = []byte(`{"id":` + strconv.Quote(rec.ev.ID) + `}`)
	}
	rec.raw = raw
	d.keepRaw(rec.seq, raw)
	return raw
}

// filter is the list's search. Every field set must match (AND): q
// searches the raw payload, value only the property values, status is
// statusAllowed or statusBlocked.
type filter struct {
	q, kind, name, user, value, status string
}

func (f filter) empty() bool {
	return f.q == "" && f.kind == "" && f.name == "" && f.user == "" && f.value == "" && f.status == ""
}

func (d *Debugger) match(f filter, rec *record) bool {
	if f.status != "" && rec.allowed() != (f.status == statusAllowed) {
		return false
	}
	if f.value != "" && !matchPropertyValue(rec.ev, strings.ToLower(f.value)) {
		return false
	}
	if f.kind != "" && string(statsig.KindOf(rec.ev.EventName)) != f.kind {
		return false
	}
	if f.name != "" && !containsFold(rec.ev.EventName, f.name) {
		return false
	}
	if f.user != "" && !d.matchUser(rec, f.user) {
		return false
	}
	if f.q != "" && !bytes.Contains(bytes.ToLower(d.rawJSON(rec)), []byte(strings.ToLower(f.q))) {
		return false
	}
	return true
}

func (d *Debugger) matchUser(rec *record, q string) bool {
	if containsFold(rec.batch.StableIDOf(rec.ev), q) {
		return true
	}
	u := rec.ev.User
	if u == nil {
		return false
	}
	if containsFold(string(u.UserID), q) {
		return true
	}
	for _, v := range u.CustomIDs {
		if containsFold(string(v), q) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (d *Debugger) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive number"})
			return
		}
		limit = n
	}
	limit = min(limit, d.Capacity())
	f := filter{q: q.Get("q"), kind: q.Get("type"), name: q.Get("name"), user: q.Get("user"), value: q.Get("value"), status: q.Get("status")}
	if f.status != "" && f.status != statusAllowed && f.status != statusBlocked {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status must be allowed or blocked, not " + strconv.Quote(f.status)})
		return
	}
	recs, _ := d.snapshot(0, 0)
	events := make([]summary, 0, min(limit, len(recs)))
	for i := range recs {
		if len(events) >= limit {
			break
		}
		if f.empty() || d.match(f, &recs[i]) {
			events = append(events, d.summarize(&recs[i]))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": events, "total": len(recs), "capacity": d.Capacity()})
}

type requestView struct {
	Source     statsig.Source `json:"source"`
	SDKType    string         `json:"sdkType"`
	SDKVersion string         `json:"sdkVersion"`
	ReceivedAt string         `json:"receivedAt"`
	ClientTime *string        `json:"clientTime"`
	SessionID  string         `json:"sessionId"`
	StableID   string         `json:"stableId"`
	BatchID    string         `json:"batchId"`
}

type outputView struct {
	Destination string  `json:"destination"`
	Type        string  `json:"type"`
	Status      string  `json:"status"`
	Reason      string  `json:"reason"`
	Note        string  `json:"note"`
	Attempts    int     `json:"attempts"`
	At          *string `json:"at"`
	Payload     any     `json:"payload"`
	// Extra is a second message sent for the event (Segment's
	// "Experiment Viewed"), or null.
	Extra any `json:"extra"`
}

func (d *Debugger) handleEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	recs, _ := d.snapshot(0, 0)
	for i := range recs {
		rec := &recs[i]
		if rec.ev.ID != id {
			continue
		}
		req := requestView{Source: rec.batch.Source, SDKType: rec.batch.SDKType, SDKVersion: rec.batch.SDKVersion,
			ReceivedAt: formatTime(time.UnixMilli(rec.batch.ReceivedAt)), SessionID: rec.batch.SessionID,
			StableID: rec.batch.StableID, BatchID: rec.batch.ID}
		if rec.batch.ClientTime > 0 {
			ct := formatTime(time.UnixMilli(rec.batch.ClientTime))
			req.ClientTime = &ct
		}
		outs := make([]outputView, len(d.dests))
		for j, name := range d.dests {
			o := rec.outs[j]
			v := outputView{Destination: name, Type: d.types[name], Status: statusNames[o.status], Reason: o.reason,
				Note: o.note, Attempts: int(o.attempts)}
			if o.at != 0 {
				at := formatTime(time.Unix(0, o.at))
				v.At = &at
			}
			if o.payload != nil {
				v.Payload = rawOrString(o.payload)
			}
			if o.extra != nil {
				v.Extra = rawOrString(o.extra)
			}
			outs[j] = v
		}
		writeJSON(w, http.StatusOK, map[string]any{"event": d.summarize(rec), "raw": json.RawMessage(d.rawJSON(rec)),
			"request": req, "outputs": outs})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "event " + id + " is not among the last " + strconv.Itoa(d.Capacity()) + " events"})
}

type destinationView struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Paused bool   `json:"paused"`
	// Yielding: a warehouse giving way to intake and streaming delivery
	// before it loads more (behind on purpose, within max_lag).
	Yielding  bool   `json:"yielding"`
	LastError string `json:"lastError"`
	// Health is the check of the target at start (reachable, what could
	// not be verified), again every 30 s while it fails.
	Health  destination.Health `json:"health"`
	Lag     *uint64            `json:"lag"`
	Counts  deliveryCounts     `json:"counts"`
	Latency latency            `json:"latency"`
	Reasons []reasonView       `json:"reasons"`
	Series  []seriesPoint      `json:"series"`
}

func (d *Debugger) handleDelivery(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("window")
	if name == "" {
		name = "1h"
	}
	win, ok := Windows[name]
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "window must be 10m, 1h or 24h"})
		return
	}
	now := time.Now()
	views := make([]destinationView, len(d.opts.Destinations))
	var wg sync.WaitGroup
	for i, dest := range d.opts.Destinations {
		ws := d.stats[i].window(win, now)
		paused, lastErr := dest.Status()
		v := destinationView{Name: dest.Name(), Type: d.types[dest.Name()], Paused: paused, Yielding: dest.Yielding(), LastError: lastErr, Health: dest.Health(),
			Counts: ws.counts, Latency: ws.latency, Reasons: ws.reasons, Series: ws.series}
		v.Counts.Retrying = dest.Retrying()
		if v.Reasons == nil {
			v.Reasons = []reasonView{}
		}
		views[i] = v
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if lag, err := dest.Lag(ctx); err == nil {
				views[i].Lag = &lag
			}
		}()
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, map[string]any{"window": win.Name, "step": win.Step.String(), "destinations": views})
}

// handleSamples returns every kept sample of one reason (up to 10).
func (d *Debugger) handleSamples(w http.ResponseWriter, r *http.Request) {
	i, ok := d.destIdx[r.PathValue("name")]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no destination " + r.PathValue("name")})
		return
	}
	samples := d.stats[i].samplesOf(r.PathValue("kind"), r.PathValue("reason"))
	if samples == nil {
		samples = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"samples": samples})
}

func (d *Debugger) handleRedrive(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	i, ok := d.destIdx[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no destination " + name})
		return
	}
	// A re-drive may run longer than the server's write_timeout (it is
	// bounded by RedriveTimeout): past that, its answer would be lost.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d.opts.RedriveTimeout + 10*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), d.opts.RedriveTimeout)
	defer cancel()
	res, err := d.opts.Destinations[i].Redrive(ctx, d.opts.RedriveMax)
	body := map[string]any{"redriven": res.Delivered, "delivered": res.Delivered, "filtered": res.Filtered,
		"deadLettered": res.DeadLettered, "left": res.Left, "skipped": res.Skipped}
	switch {
	case errors.Is(err, destination.ErrRedriveRunning):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	case err != nil && res.Delivered+res.Filtered+res.DeadLettered+res.Left == 0:
		d.opts.Logger.Warn("re-driving dead letters", "destination", name, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "re-drive failed: " + err.Error()})
		return
	case err != nil:
		body["error"] = "re-drive stopped early: " + err.Error()
	}
	writeJSON(w, http.StatusOK, body)
}

func (d *Debugger) handleConfig(w http.ResponseWriter, r *http.Request) {
	if d.opts.Config == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	// Durations as "30s", members in the configuration's order.
	b, err := config.Readable(d.opts.Config.Masked())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "encoding the configuration: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
