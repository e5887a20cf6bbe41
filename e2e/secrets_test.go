package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// secretsConfig is the bridge's configuration for TestSecretsNeverLeak:
// every secret comes from the environment (T_*), as in production.
const secretsConfig = `
listen: ${T_LISTEN}
data_dir: ${T_DATA}
log_level: debug
intake:
  api_keys: ["${T_KEY_HEADER}", "${T_KEY_QUERY}"]
  webhook_secret: ${T_WEBHOOK_SECRET}
ui:
  token: ${T_UI_TOKEN}
  basic_auth: ${T_UI_BASIC}
specs:
  server_secret: ${T_SPECS_SECRET}
  api: ${T_SPECS_API}
  refresh: 1s
log:
  nats_url: ${T_NATS_URL:-}
  stream: ${T_STREAM:-}
  subject: ${T_SUBJECT:-}
  dead_letter_stream: ${T_DL_STREAM:-}
  dead_letter_subject: ${T_DL_SUBJECT:-}
  max_bytes: 67108864
destinations:
  - name: seg
    segment: {write_key: "${T_SEGMENT_KEY}", endpoint: "${T_SEGMENT_ENDPOINT}", timeout: 5s}
    delivery: {flush_interval: 100ms, retry: {initial: 20ms, max: 200ms, pause_probe: 200ms}}
  - name: seg_badurl
    segment: {write_key: "${T_SEGMENT_KEY_BADURL}", endpoint: "${T_SEGMENT_BAD_ENDPOINT}", timeout: 5s}
    delivery: {flush_interval: 100ms, retry: {initial: 20ms, max: 200ms, pause_probe: 200ms}}
  - name: hook
    webhook:
      url: "${T_HOOK_URL}"
      secret: "${T_HOOK_SECRET}"
      headers: {Authorization: "${T_HOOK_AUTH}", X-Api-Key: "${T_HOOK_KEY}"}
      timeout: 5s
    delivery: {flush_interval: 100ms, retry: {initial: 20ms, max: 200ms, pause_probe: 200ms}}
  - name: tee
    statsig: {api: "${T_TEE_API}", server_secret: "${T_TEE_SECRET}", timeout: 5s}
    delivery: {flush_interval: 100ms, retry: {initial: 20ms, max: 200ms, pause_probe: 200ms}}
  - name: wh
    warehouse: {driver: "${T_WH_DRIVER}", dsn: "${T_WH_DSN:-}", schema: "${T_WH_SCHEMA}"}
    delivery: {flush_interval: 100ms, retry: {initial: 20ms, max: 200ms, pause_probe: 200ms}}
`

// TestSecretsNeverLeak configures every kind of secret the bridge holds
// with a distinctive value, runs the real binary listening off loopback
// (so the debugger checks its token and basic auth), drives traffic that
// fails in every way that carries text back (targets answering 500, 400
// and 401 with the request's credentials echoed in their bodies, a target
// URL that does not parse, wrong SDK keys, bad webhook signatures, wrong
// debugger credentials, invalid configurations), and then searches all
// that anyone could read — every log line, /metrics, every debugger page
// and API answer, every intake answer, the dead letters in the log, and
// the output of validate, preview and a failed serve — for each secret,
// its base64 and URL-escaped forms, and the base64 of Basic credentials.
func TestSecretsNeverLeak(t *testing.T) {
	parallelLong(t)
	echo := newEchoServer(t)
	secrets := map[string]string{
		"intake API key (header)":          "client-LEAKTEST-intake-header-7f3a9c",
		"intake API key (query k=)":        "client-LEAKTEST-intake-query-b81e44",
		"webhook signing secret":           "whsec-LEAKTEST-intake-webhook-5d21",
		"Segment write key":                "LEAKTEST-segment-write-key-9x4q",
		"Segment write key (bad endpoint)": "LEAKTEST-segment-write-key-badurl-3t8",
		"Segment endpoint token":           "LEAKTEST-segment-endpoint-token-47d2",
		"Segment endpoint password":        "LEAKTEST-segment-endpoint-password-e5",
		"Segment bad endpoint password":    "LEAKTEST-segment-badurl-password-77c1",
		"webhook destination secret":       "LEAKTEST-webhook-dest-signing-3c7d",
		"webhook Authorization header":     "Bearer LEAKTEST-webhook-bearer-91af",
		"webhook X-Api-Key header":         "LEAKTEST-webhook-x-api-key-66d0",
		"webhook URL token":                "LEAKTEST-webhook-url-token-2b9e",
		"webhook URL password":             "LEAKTEST-webhook-url-password-8c1f",
		"Statsig tee server secret":        "secret-LEAKTEST-tee-server-4e6b",
		"Statsig tee API key parameter":    "LEAKTEST-tee-api-key-param-11aa",
		"specs server secret":              "secret-LEAKTEST-specs-server-a0c3",
		"specs API password":               "LEAKTEST-specs-api-password-c4d5",
		"debugger token":                   "LEAKTEST-ui-token-73be0f",
		"debugger basic auth":              "admin:LEAKTEST-ui-password-0d5a",
		"NATS URL password (bad URL)":      "LEAKTEST-nats-badurl-password-2f2f",
		"Postgres DSN password (bad DSN)":  "LEAKTEST-pg-baddsn-password-9e9e",
	}
	echoHost := strings.TrimPrefix(echo.URL, "http://")
	_, listenPort, _ := net.SplitHostPort(freeAddr(t))
	dir := t.TempDir()
	env := map[string]string{
		"T_LISTEN":               "0.0.0.0:" + listenPort,
		"T_DATA":                 filepath.Join(dir, "data"),
		"T_KEY_HEADER":           secrets["intake API key (header)"],
		"T_KEY_QUERY":            secrets["intake API key (query k=)"],
		"T_WEBHOOK_SECRET":       secrets["webhook signing secret"],
		"T_UI_TOKEN":             secrets["debugger token"],
		"T_UI_BASIC":             secrets["debugger basic auth"],
		"T_SPECS_SECRET":         secrets["specs server secret"],
		"T_SPECS_API":            "http://specsuser:" + secrets["specs API password"] + "@" + echoHost + "/specs",
		"T_SEGMENT_KEY":          secrets["Segment write key"],
		"T_SEGMENT_ENDPOINT":     "http://seguser:" + secrets["Segment endpoint password"] + "@" + echoHost + "/seg?token=" + secrets["Segment endpoint token"],
		"T_SEGMENT_KEY_BADURL":   secrets["Segment write key (bad endpoint)"],
		"T_SEGMENT_BAD_ENDPOINT": "http://baduser:" + secrets["Segment bad endpoint password"] + "@127.0.0.1:notaport/seg",
		"T_HOOK_URL":             "http://hookuser:" + secrets["webhook URL password"] + "@" + echoHost + "/hook?token=" + secrets["webhook URL token"],
		"T_HOOK_SECRET":          secrets["webhook destination secret"],
		"T_HOOK_AUTH":            secrets["webhook Authorization header"],
		"T_HOOK_KEY":             secrets["webhook X-Api-Key header"],
		"T_TEE_API":              "http://" + echoHost + "/tee/v1?api_key=" + secrets["Statsig tee API key parameter"],
		"T_TEE_SECRET":           secrets["Statsig tee server secret"],
		"T_WH_DRIVER":            "sqlite",
		"T_WH_SCHEMA":            "statsig",
	}
	if pg := os.Getenv("BRIDGE_TEST_POSTGRES_URL"); pg != "" {
		// The test server trusts local connections, so any password in the
		// DSN gets in; the bridge still holds it and must not show it.
		secrets["Postgres DSN password"] = "LEAKTEST-pg-password-e19c"
		u, err := url.Parse(pg)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(u.User.Username(), secrets["Postgres DSN password"])
		schema := fmt.Sprintf("statsig_leak_%d", time.Now().UnixNano()%1e9)
		env["T_WH_DRIVER"], env["T_WH_DSN"], env["T_WH_SCHEMA"] = "postgres", u.String(), schema
		t.Cleanup(func() { dropSchema(pg, schema) })
	} else {
		t.Log("BRIDGE_TEST_POSTGRES_URL not set: the warehouse is SQLite, no DSN password to hide while serving")
	}
	var natsURL string
	nu, why := supportedNATSURL(t)
	if nu != "" && os.Getenv("BRIDGE_TEST_POSTGRES_URL") == "" {
		nu, why = "", "BRIDGE_TEST_POSTGRES_URL is not set, and a SQLite warehouse is refused on an external log"
	}
	if nu != "" {
		// The shared test server has no authentication: it lets in any
		// user and password, which the bridge must still keep to itself.
		secrets["NATS URL password"] = "LEAKTEST-nats-password-5aa7"
		u, err := url.Parse(nu)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("natsuser", secrets["NATS URL password"])
		natsURL = u.String()
		id := fmt.Sprintf("%d_%d", os.Getpid(), time.Now().UnixNano())
		env["T_NATS_URL"], env["T_STREAM"], env["T_SUBJECT"] = natsURL, "E2E_LEAK_"+id, "e2e.leak."+id+".events"
		env["T_DL_STREAM"], env["T_DL_SUBJECT"] = "E2E_LEAK_DL_"+id, "e2e.leak."+id+".deadletter"
		dropLogStreams(t, nu, env["T_STREAM"], env["T_DL_STREAM"])
	} else {
		t.Log(why + ": embedded log, no NATS URL credentials to hide while serving")
	}
	leaks := newLeakChecker(secrets)
	cfgPath := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfgPath, []byte(secretsConfig), 0o600); err != nil {
		t.Fatal(err)
	}

	// The commands that print configurations and errors.
	runCLI(t, leaks, env, "validate", "--config", cfgPath)
	eventsFile := filepath.Join(dir, "events.json")
	body, _ := sdkBody(0, 0, 3)
	if err := os.WriteFile(eventsFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, leaks, env, "preview", "--config", cfgPath, eventsFile)
	badPath := filepath.Join(dir, "bad.yaml")
	bad := secretsConfig + `
  - name: "bad name"
    segment: {write_key: "${T_SEGMENT_KEY}", endpoint: "ftp://u:${T_SEGMENT_KEY}@x/?token=${T_SEGMENT_KEY}"}
  - name: bad_tee
    statsig: {api: "ftp://u:${T_TEE_SECRET}@x/?key=${T_TEE_SECRET}", server_secret: "${T_TEE_SECRET}"}
  - name: bad_hook
    webhook: {url: "ftp://u:${T_HOOK_SECRET}@x/?token=${T_HOOK_SECRET}", secret: "${T_HOOK_SECRET}"}
`
	bad = strings.Replace(bad, "  api: ${T_SPECS_API}", "  api: ftp://specsuser:${T_SPECS_SECRET}@x/?secret=${T_SPECS_SECRET}", 1)
	bad = strings.Replace(bad, "  basic_auth: ${T_UI_BASIC}", "  basic_auth: ${T_UI_TOKEN}", 1) // no colon: invalid
	if err := os.WriteFile(badPath, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := runCLI(t, leaks, env, "validate", "--config", badPath); !strings.Contains(out, "invalid configuration") {
		t.Errorf("the invalid configuration passed validate:\n%s", out)
	}
	// serve with a NATS URL and a Postgres DSN that do not parse: the
	// parsers' errors quote what they could not parse.
	const warehouseLine = `warehouse: {driver: "${T_WH_DRIVER}", dsn: "${T_WH_DSN:-}"`
	for _, c := range []struct{ what, from, to, warehouse string }{
		// On an external log the warehouse is Postgres (a SQLite one is
		// refused before the URL is read); this one is never reached.
		{"NATS URL", "  nats_url: ${T_NATS_URL:-}", "  nats_url: nats://natsuser:" + secrets["NATS URL password (bad URL)"] + "@127.0.0.1:notaport",
			`warehouse: {driver: postgres, dsn: "postgres://127.0.0.1:1/db"`},
		{"Postgres DSN", warehouseLine,
			`warehouse: {driver: postgres, dsn: "postgres://pguser:` + secrets["Postgres DSN password (bad DSN)"] + `@127.0.0.1:notaport/db"`, ""},
	} {
		doc := secretsConfig
		if c.warehouse != "" {
			doc = strings.Replace(doc, warehouseLine, c.warehouse, 1)
		}
		for _, r := range [][2]string{{c.from, c.to}, {"listen: ${T_LISTEN}", "listen: 127.0.0.1:0"},
			{"data_dir: ${T_DATA}", "data_dir: " + filepath.Join(dir, "bad-"+strings.Fields(c.what)[0])},
			{"  nats_url: ${T_NATS_URL:-}", "  nats_url: \"\""}} { // the embedded log: the shared server is not touched
			if !strings.Contains(doc, r[0]) && r[0] != "  nats_url: ${T_NATS_URL:-}" {
				t.Fatalf("%s: %q is not in the config", c.what, r[0])
			}
			doc = strings.Replace(doc, r[0], r[1], 1)
		}
		p := filepath.Join(dir, "bad-"+strings.Fields(c.what)[0]+".yaml")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if out := runCLI(t, leaks, env, "serve", "--config", p); !strings.Contains(out, "port") {
			t.Errorf("serve with a bad %s did not say what is wrong: %s", c.what, out)
		}
	}

	// The bridge itself. startProcessArgs reaches it at BRIDGE_LISTEN; the
	// config listens on every interface (T_LISTEN), same port.
	procEnv := map[string]string{"BRIDGE_LISTEN": "127.0.0.1:" + listenPort}
	for k, v := range env {
		procEnv[k] = v
	}
	p := startProcessArgs(t, procEnv, "--config", cfgPath)
	base := p.URL
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(where, method, path string, body []byte, hdr map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		h := resp.Header.Clone()
		h.Del("Set-Cookie") // ?token= is answered with a cookie holding the same token, to the client who sent it
		var hs strings.Builder
		_ = h.Write(&hs)
		leaks.Add(where+" ("+method+" "+path+" → "+strconv.Itoa(resp.StatusCode)+")", hs.String()+string(b))
		return resp.StatusCode, string(b)
	}
	expect := func(want int, where, method, path string, body []byte, hdr map[string]string) string {
		t.Helper()
		code, b := do(where, method, path, body, hdr)
		if code != want {
			t.Errorf("%s: %s %s answered %d, want %d: %s", where, method, path, code, want, b)
		}
		return b
	}
	keyHeader := map[string]string{"STATSIG-API-KEY": secrets["intake API key (header)"], "Content-Type": "application/json"}
	queryKey := url.QueryEscape(secrets["intake API key (query k=)"])

	// Intake: accepted, refused and broken requests.
	sdk1, _ := sdkBody(1, 0, 10)
	expect(202, "intake", "POST", "/v1/log_event", sdk1, keyHeader)
	sdk2, _ := sdkBody(2, 0, 10)
	expect(202, "intake", "POST", "/v1/rgstr?k="+queryKey+"&st=javascript-client&sv=3.0.0", sdk2, nil)
	expect(401, "intake, wrong key", "POST", "/v1/log_event", sdk1, map[string]string{"STATSIG-API-KEY": "client-LEAKTEST-intake-header-7f3a9d"})
	expect(401, "intake, no key", "POST", "/v1/log_event", sdk1, nil)
	expect(400, "intake, not JSON", "POST", "/v1/log_event", []byte("not json "+secrets["intake API key (header)"][:5]), keyHeader)
	expect(400, "intake, bad gzip", "POST", "/v1/rgstr?k="+queryKey+"&gz=1", []byte("not gzip"), map[string]string{"Content-Encoding": "gzip"})
	expect(404, "intake, not served", "GET", "/v1/download_config_specs/"+url.PathEscape(secrets["specs server secret"])+".json", nil, nil)
	hook, err := os.ReadFile(filepath.Join(fixtures, "webhook", "batch-1.body"))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	sig := statsig.Sign([]byte(secrets["webhook signing secret"]), ts, hook)
	expect(202, "webhook intake", "POST", "/webhooks/statsig", hook, map[string]string{"X-Statsig-Request-Timestamp": ts, "X-Statsig-Signature": sig})
	expect(401, "webhook intake, bad signature", "POST", "/webhooks/statsig", hook,
		map[string]string{"X-Statsig-Request-Timestamp": ts, "X-Statsig-Signature": statsig.Sign([]byte("whsec-wrong"), ts, hook)})
	old := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10)
	expect(401, "webhook intake, replayed", "POST", "/webhooks/statsig", hook,
		map[string]string{"X-Statsig-Request-Timestamp": old, "X-Statsig-Signature": statsig.Sign([]byte(secrets["webhook signing secret"]), old, hook)})
	expect(401, "webhook intake, unsigned", "POST", "/webhooks/statsig", hook, nil)

	// The debugger: refused without the right credentials.
	user, pass, _ := strings.Cut(secrets["debugger basic auth"], ":")
	basic := map[string]string{"Authorization": "Basic " + basicAuth(user, pass)}
	expect(401, "debugger, nothing", "GET", "/api/events", nil, nil)
	expect(401, "debugger, wrong token", "GET", "/api/events?token=LEAKTEST-ui-token-73be0e", nil, nil)
	expect(401, "debugger, wrong bearer", "GET", "/api/config", nil, map[string]string{"Authorization": "Bearer LEAKTEST-ui-token-73be0e"})
	expect(401, "debugger, wrong basic", "GET", "/", nil, map[string]string{"Authorization": "Basic " + basicAuth(user, pass+"x")})
	expect(200, "debugger, token", "GET", "/?token="+url.QueryEscape(secrets["debugger token"]), nil, nil)

	// Phase 1: the targets answer 500, then 400 with the credentials echoed;
	// wait until every event has an outcome at each of them.
	metrics := func() string { _, m := do("/metrics", "GET", "/metrics", nil, nil); return m }
	testwait.For(t, 60*time.Second, "every event settled at seg, hook, tee and the warehouse", func() bool {
		m := metrics()
		received := metricByLabel(m, "statsig_bridge_received_events_total", "")
		settled := func(dest string) float64 {
			l := `destination="` + dest + `"`
			return metricByLabel(m, "statsig_bridge_dead_lettered_events_total", l) +
				metricByLabel(m, "statsig_bridge_delivered_events_total", l) + metricByLabel(m, "statsig_bridge_filtered_events_total", l)
		}
		return received >= 20 && settled("seg") >= received && settled("hook") >= received && settled("wh") >= received &&
			settled("tee") >= 20 && metricByLabel(m, "statsig_bridge_dead_lettered_events_total", `destination="tee"`) > 0 &&
			metricByLabel(m, "statsig_bridge_destination_request_errors_total", `destination="seg_badurl"`) > 0
	})
	expect(200, "debugger, re-drive", "POST", "/api/destinations/seg/redrive", nil, basic)

	// Phase 2: every target refuses the credentials (401, echoed): the
	// destinations pause.
	echo.phase.Store(2)
	sdk3, _ := sdkBody(3, 0, 5)
	expect(202, "intake", "POST", "/v1/log_event", sdk3, keyHeader)
	testwait.For(t, 30*time.Second, "seg, hook and tee paused", func() bool {
		m := metrics()
		for _, d := range []string{"seg", "hook", "tee"} {
			if metricByLabel(m, "statsig_bridge_destination_paused", `destination="`+d+`"`) != 1 {
				return false
			}
		}
		return true
	})

	// Everything the debugger shows, the live stream while an event comes in.
	scrapeDebugger(t, do, basic)
	sdk4, _ := sdkBody(4, 0, 3)
	stream := readStream(t, base+"/api/stream", basic, func() { expect(202, "intake", "POST", "/v1/log_event", sdk4, keyHeader) })
	if !strings.Contains(stream, "e2e_event") {
		t.Errorf("the live stream showed no event: %q", stream)
	}
	leaks.Add("debugger live stream", stream)
	expect(200, "healthz", "GET", "/healthz", nil, nil)
	expect(200, "readyz", "GET", "/readyz", nil, nil)
	metrics()

	p.StopGracefully(t, syscall.SIGTERM)
	logs := p.out.String()
	leaks.Add("the bridge's log", logs)

	// The dead letters as the log keeps them (the data dir, or the stream).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := queue.Open(ctx, queue.Config{URL: natsURL, DataDir: env["T_DATA"], Stream: env["T_STREAM"], Subject: env["T_SUBJECT"],
		DeadLetterStream: env["T_DL_STREAM"], DeadLetterSubject: env["T_DL_SUBJECT"], MaxBytes: 64 << 20}, testLogger(t))
	if err != nil {
		t.Fatalf("reopening the log: %v", err)
	}
	deadLetters := 0
	for _, d := range []string{"seg", "seg_badurl", "hook", "tee", "wh"} {
		raw, err := l.DeadLetters(ctx, d, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range raw {
			leaks.Add("dead letter of "+d, string(r))
		}
		deadLetters += len(raw)
	}
	l.Close()

	// The test is only as good as the chances it gave the bridge to leak:
	// the targets saw the credentials and echoed them, and their echoes
	// reached the logs, the debugger and the dead letters (scrubbed).
	echoed := leaksIn(echo.Echoed(), secrets)
	for _, name := range []string{"Segment write key", "Segment endpoint token", "webhook Authorization header", "webhook X-Api-Key header",
		"webhook URL token", "Statsig tee server secret", "Statsig tee API key parameter", "specs server secret"} {
		if !echoed[name] {
			t.Errorf("the echoing targets never received the %s: the test does not test it", name)
		}
	}
	if !strings.Contains(logs, "you_sent") || !strings.Contains(logs, "seg_badurl") {
		t.Errorf("the log shows no target's answer or no failure of seg_badurl: the test does not test them")
	}
	if deadLetters == 0 {
		t.Error("no dead letters in the log")
	}
	n, size := leaks.Texts()
	t.Logf("searched %d texts (%d KB) for %d secrets; %d dead letters; %d target answers", n, size>>10, len(secrets), deadLetters, echo.answers)
	leaks.Check(t)
}

// scrapeDebugger reads every page and API answer of the debugger.
func scrapeDebugger(t *testing.T, do func(where, method, path string, body []byte, hdr map[string]string) (int, string), auth map[string]string) {
	t.Helper()
	get := func(path string) string {
		t.Helper()
		code, b := do("debugger", "GET", path, nil, auth)
		if code != http.StatusOK {
			t.Errorf("debugger GET %s: %d %s", path, code, b)
		}
		return b
	}
	get("/")
	assets, err := os.ReadDir(filepath.Join("..", "internal", "debugger", "ui"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range assets {
		if !a.IsDir() && a.Name() != "index.html" {
			get("/ui/" + a.Name())
		}
	}
	get("/api/config")
	do("debugger", "GET", "/api/no-such-thing", nil, auth)
	var list struct {
		Events []struct{ ID string } `json:"events"`
	}
	if err := json.Unmarshal([]byte(get("/api/events?limit=10000")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Events) == 0 {
		t.Error("the debugger lists no events")
	}
	for _, e := range list.Events {
		get("/api/events/" + url.PathEscape(e.ID))
	}
	get("/api/events?q=LEAKTEST")
	notes := 0
	for _, w := range []string{"10m", "1h", "24h"} {
		var d struct {
			Destinations []struct {
				Name    string `json:"name"`
				Reasons []struct {
					Reason string `json:"reason"`
					Type   string `json:"type"`
				} `json:"reasons"`
			} `json:"destinations"`
		}
		b := get("/api/delivery?window=" + w)
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			t.Fatal(err)
		}
		for _, dest := range d.Destinations {
			for _, r := range dest.Reasons {
				s := get("/api/delivery/" + url.PathEscape(dest.Name) + "/reasons/" + url.PathEscape(r.Type) + "/" + url.PathEscape(r.Reason))
				notes += strings.Count(s, "you_sent")
			}
		}
	}
	if notes == 0 {
		t.Error("no target's answer in the debugger's delivery samples: the test does not test them")
	}
}

// runCLI runs the command line in the test process with env as its whole
// environment and records what it printed.
func runCLI(t *testing.T, leaks *leakChecker, env map[string]string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := cli.Main(ctx, args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: getenv})
	text := out.String() + errOut.String()
	leaks.Add("statsig-bridge "+strings.Join(args[:1], " ")+" (exit "+strconv.Itoa(code)+")", text)
	return text
}

// leaksIn reports which secrets appear in text in any form.
func leaksIn(text string, secrets map[string]string) map[string]bool {
	out := map[string]bool{}
	for name, s := range secrets {
		for _, f := range secretForms(s) {
			if strings.Contains(text, f) {
				out[name] = true
			}
		}
	}
	return out
}

// readStream reads the debugger's live stream for two seconds while during
// runs, and returns what it sent.
func readStream(t *testing.T, streamURL string, hdr map[string]string, during func()) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", streamURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("opening the live stream: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live stream: %d", resp.StatusCode)
	}
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(resp.Body); got <- b }() // ends with ctx
	time.Sleep(200 * time.Millisecond)
	during()
	return string(<-got)
}

// basicAuth is the value of an Authorization: Basic header.
func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// dropSchema removes a test schema from the Postgres at dsn.
func dropSchema(dsn, schema string) {
	if db, err := sql.Open("pgx", dsn); err == nil {
		_, _ = db.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`)
		db.Close()
	}
}
