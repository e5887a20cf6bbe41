package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// The deployment files (README "Deploy") are checked against the code they
// configure: the cluster example through the real config loader, the NATS
// configs through nats-server's own parser, the systemd unit and the
// Dockerfile for what the bridge needs of them.

var deployDir = filepath.Join("..", "..", "deploy")

// clusterEnv is what deploy/cluster/bridge.yaml needs from the environment.
var clusterEnv = map[string]string{
	"STATSIG_SERVER_SECRET": "secret-deploy-server-1111",
	"STATSIG_CLIENT_KEY":    "client-deploy-key-2222",
	"NATS_BRIDGE_PASSWORD":  "nats-deploy-pass-3333",
	"SEGMENT_WRITE_KEY":     "segment-deploy-key-4444",
	"BRIDGE_WAREHOUSE_DSN":  "postgres://bridge:pg-deploy-pass-5555@db.internal:5432/analytics?sslmode=require",
	"BRIDGE_UI_TOKEN":       "ui-deploy-token-6666",
}

// natsBridgePassword is NATS_BRIDGE_PASSWORD for the NATS configs.
const natsBridgePassword = "nats-deploy-pass-3333"

func TestDeployClusterConfig(t *testing.T) {
	path := filepath.Join(deployDir, "cluster", "bridge.yaml")

	t.Run("validates with its environment, secrets masked", func(t *testing.T) {
		r := run(t, clusterEnv, nil, "validate", "--config", path)
		if r.Code != cli.ExitOK {
			t.Fatalf("exit %d\nstderr:\n%s", r.Code, r.Stderr)
		}
		for _, want := range []string{"replicas: 3", "nats://****@nats-1:4222,nats://****@nats-2:4222,nats://****@nats-3:4222", "driver: postgres", "db.internal:5432"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("effective config lacks %q:\n%s", want, r.Stdout)
			}
		}
		var secrets []string
		for _, v := range clusterEnv {
			if !strings.HasPrefix(v, "postgres://") {
				secrets = append(secrets, v)
			}
		}
		assertNoSecrets(t, r, append(secrets, "pg-deploy-pass-5555"))
	})

	t.Run("each required variable is named when missing", func(t *testing.T) {
		r := run(t, map[string]string{}, nil, "validate", "--config", path)
		if r.Code != cli.ExitConfig {
			t.Fatalf("exit %d, want %d (config error)\nstderr:\n%s", r.Code, cli.ExitConfig, r.Stderr)
		}
		for _, name := range []string{"STATSIG_SERVER_SECRET", "NATS_BRIDGE_PASSWORD", "SEGMENT_WRITE_KEY", "BRIDGE_WAREHOUSE_DSN"} {
			if !strings.Contains(r.Stderr, name) {
				t.Errorf("stderr does not name %s:\n%s", name, r.Stderr)
			}
		}
		for _, optional := range []string{"STATSIG_CLIENT_KEY", "BRIDGE_UI_TOKEN", "STATSIG_WEBHOOK_SECRET"} {
			if strings.Contains(r.Stderr, optional) {
				t.Errorf("stderr names the optional %s as missing:\n%s", optional, r.Stderr)
			}
		}
	})

	t.Run("values", func(t *testing.T) {
		cfg := loadClusterConfig(t, clusterEnv)
		if cfg.Log.Replicas != 3 {
			t.Errorf("log.replicas = %d, want 3", cfg.Log.Replicas)
		}
		if host, _, _ := net.SplitHostPort(cfg.Listen); host != "0.0.0.0" {
			t.Errorf("listen = %q: behind a load balancer the bridge listens on every interface", cfg.Listen)
		}
		if !slices.Contains(cfg.Intake.APIKeys, clusterEnv["STATSIG_SERVER_SECRET"]) || !slices.Contains(cfg.Intake.APIKeys, clusterEnv["STATSIG_CLIENT_KEY"]) {
			t.Errorf("intake.api_keys = %q: want the server secret and the client key from the environment", cfg.Intake.APIKeys)
		}
		if cfg.UI.Token != clusterEnv["BRIDGE_UI_TOKEN"] {
			t.Errorf("ui.token = %q, want BRIDGE_UI_TOKEN", cfg.UI.Token)
		}
		types := map[string]config.Destination{}
		for _, d := range cfg.Destinations {
			types[d.Type] = d
		}
		if d, ok := types["segment"]; !ok || d.Segment.WriteKey != clusterEnv["SEGMENT_WRITE_KEY"] {
			t.Errorf("no segment destination with SEGMENT_WRITE_KEY: %+v", cfg.Destinations)
		}
		if d, ok := types["warehouse"]; !ok || d.Warehouse.Driver != "postgres" || d.Warehouse.DSN != clusterEnv["BRIDGE_WAREHOUSE_DSN"] {
			t.Errorf("no postgres warehouse destination with BRIDGE_WAREHOUSE_DSN: %+v", cfg.Destinations)
		}
		// Without the optional client key the list keeps an empty entry,
		// which the intake ignores; the server secret alone is a key.
		env := withVar(clusterEnv, "STATSIG_CLIENT_KEY", "")
		cfg = loadClusterConfig(t, env)
		if !slices.Contains(cfg.Intake.APIKeys, clusterEnv["STATSIG_SERVER_SECRET"]) {
			t.Errorf("without STATSIG_CLIENT_KEY, api_keys = %q", cfg.Intake.APIKeys)
		}
	})
}

func loadClusterConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(deployDir, "cluster", "bridge.yaml"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		t.Fatalf("invalid: %q", problems)
	}
	return cfg
}

// withVar returns a copy of m with k set to v ("" deletes it).
func withVar(m map[string]string, k, v string) map[string]string {
	out := map[string]string{}
	for mk, mv := range m {
		out[mk] = mv
	}
	if v == "" {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// TestDeployNATSConfigs parses the three NATS node configs with
// nats-server's own parser and checks them against each other and against
// the bridge's cluster config.
func TestDeployNATSConfigs(t *testing.T) {
	t.Setenv("NATS_BRIDGE_PASSWORD", natsBridgePassword)
	cfg := loadClusterConfig(t, clusterEnv)
	var bridgeHosts []string
	for _, u := range strings.Split(cfg.Log.NATSURL, ",") {
		bridgeHosts = append(bridgeHosts, strings.TrimSpace(u[strings.LastIndex(u, "@")+1:]))
	}

	names := map[string]bool{}
	var clientHosts []string
	for i := 1; i <= 3; i++ {
		path := filepath.Join(deployDir, "cluster", "nats-"+strconv.Itoa(i)+".conf")
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !opts.JetStream || opts.StoreDir == "" {
			t.Errorf("%s: JetStream %v with store_dir %q: want JetStream on a store_dir", path, opts.JetStream, opts.StoreDir)
		}
		if opts.ServerName == "" || names[opts.ServerName] {
			t.Errorf("%s: server_name %q must be set and differ between nodes (JetStream clustering needs it)", path, opts.ServerName)
		}
		names[opts.ServerName] = true
		if opts.Cluster.Name != "statsig-bridge" || opts.Cluster.Port != 6222 {
			t.Errorf("%s: cluster %q on port %d", path, opts.Cluster.Name, opts.Cluster.Port)
		}
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Host)
		}
		slices.Sort(routes)
		if want := []string{"nats-1:6222", "nats-2:6222", "nats-3:6222"}; !slices.Equal(routes, want) {
			t.Errorf("%s: routes %q, want %q", path, routes, want)
		}
		// The largest batch the log accepts, with its headers, and the
		// largest the intake limits let through (body + about 64 B of ID
		// per event) must both fit in one NATS message.
		need := int64(queue.DefaultMaxMsgSize) + 4<<10
		if byIntake := cfg.Intake.MaxBodyBytes + 64*int64(cfg.Intake.MaxEvents) + 4<<10; byIntake > need {
			need = byIntake
		}
		if int64(opts.MaxPayload) < need {
			t.Errorf("%s: max_payload %d is below the %d bytes a stored batch may take", path, opts.MaxPayload, need)
		}
		if opts.MaxPending < int64(opts.MaxPayload) {
			t.Errorf("%s: max_pending %d is below max_payload %d", path, opts.MaxPending, opts.MaxPayload)
		}
		// Each replica holds the whole log and the dead letters.
		if need := cfg.Log.MaxBytes + cfg.Log.DeadLetterMaxBytes; opts.JetStreamMaxStore < need {
			t.Errorf("%s: jetstream.max_file_store %d is below the bridge's log.max_bytes + log.dead_letter_max_bytes = %d", path, opts.JetStreamMaxStore, need)
		}
		var bridgeUser bool
		for _, u := range opts.Users {
			bridgeUser = bridgeUser || u.Username == "bridge" && u.Password == natsBridgePassword
		}
		if !bridgeUser {
			t.Errorf("%s: no user bridge with the password from NATS_BRIDGE_PASSWORD", path)
		}
		if !strings.Contains(cfg.Log.NATSURL, "bridge:"+natsBridgePassword+"@") {
			t.Errorf("bridge.yaml's nats_url does not log in as bridge with NATS_BRIDGE_PASSWORD")
		}
		clientHosts = append(clientHosts, net.JoinHostPort(opts.ServerName, strconv.Itoa(opts.Port)))
	}
	if !slices.Equal(bridgeHosts, clientHosts) {
		t.Errorf("bridge.yaml connects to %q, the nodes listen as %q", bridgeHosts, clientHosts)
	}
	if cfg.Log.Replicas > len(names) {
		t.Errorf("log.replicas %d on %d nodes", cfg.Log.Replicas, len(names))
	}
}

// systemdUnit is a parsed systemd unit: section → key → values.
type systemdUnit map[string]map[string][]string

func parseSystemdUnit(t *testing.T, path string) systemdUnit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := systemdUnit{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot parse %q", path, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// one returns the single value of key in [Service].
func (u systemdUnit) one(t *testing.T, key string) string {
	t.Helper()
	v := u["Service"][key]
	if len(v) != 1 {
		t.Errorf("[Service] %s: %d values %q, want one", key, len(v), v)
		return ""
	}
	return v[0]
}

func TestDeploySystemdUnit(t *testing.T) {
	path := filepath.Join(deployDir, "systemd", "statsig-bridge.service")
	u := parseSystemdUnit(t, path)

	if user := u.one(t, "User"); user == "" || user == "root" || user == "0" {
		t.Errorf("User=%q: want a dedicated user", user)
	}
	if got := u.one(t, "StateDirectory"); got != "statsig-bridge" {
		t.Errorf("StateDirectory=%q", got)
	}
	if got := u.one(t, "EnvironmentFile"); got != "/etc/statsig-bridge/env" {
		t.Errorf("EnvironmentFile=%q", got)
	}
	for key, want := range map[string]string{
		"Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes",
	} {
		if got := u.one(t, key); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	if n, err := strconv.Atoi(u.one(t, "LimitNOFILE")); err != nil || n < 4096 {
		t.Errorf("LimitNOFILE=%q: want a number of at least 4096", u["Service"]["LimitNOFILE"])
	}
	stateDir := "/var/lib/" + u.one(t, "StateDirectory")
	if rw := u["Service"]["ReadWritePaths"]; !slices.Contains(strings.Fields(strings.Join(rw, " ")), stateDir) {
		t.Errorf("ReadWritePaths=%q lacks %s (ProtectSystem=strict makes everything else read-only)", rw, stateDir)
	}
	if !slices.Contains(u["Unit"]["After"], "network-online.target") {
		t.Errorf("After=%q: start once the network is up (NATS, Postgres)", u["Unit"]["After"])
	}
	if !slices.Contains(u["Install"]["WantedBy"], "multi-user.target") {
		t.Errorf("WantedBy=%q", u["Install"]["WantedBy"])
	}

	// ExecStart runs serve with a config file, and the command line accepts
	// exactly those arguments (--help stops before anything starts).
	execStart := strings.Fields(u.one(t, "ExecStart"))
	if len(execStart) < 2 || execStart[0] != "/usr/local/bin/statsig-bridge" || execStart[1] != "serve" || !slices.Contains(execStart, "--config") {
		t.Fatalf("ExecStart=%q", execStart)
	}
	if r := run(t, nil, nil, append(execStart[1:], "--help")...); r.Code != cli.ExitOK {
		t.Errorf("statsig-bridge %q --help: exit %d\n%s", execStart[1:], r.Code, r.Stderr)
	}

	// The unit's environment and the example config agree on the data
	// directory: the state directory systemd creates for the user.
	env := withVar(clusterEnv, "BRIDGE_DATA_DIR", "")
	for _, kv := range u["Service"]["Environment"] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	cfg := loadClusterConfig(t, env)
	if cfg.DataDir != stateDir {
		t.Errorf("data_dir under the unit is %q, want the StateDirectory %s", cfg.DataDir, stateDir)
	}
	// systemd kills the bridge after TimeoutStopSec; the bridge needs up
	// to shutdown_timeout to stop in order.
	stop, err := time.ParseDuration(u.one(t, "TimeoutStopSec") + "s")
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if stop <= cfg.ShutdownTimeout || stop <= config.DefaultShutdownTimeout {
		t.Errorf("TimeoutStopSec=%v is not above the bridge's shutdown_timeout %v", stop, cfg.ShutdownTimeout)
	}

	// systemd's own check, when it is installed; it wants ExecStart to
	// exist, so it checks a copy pointing at this test binary.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit checked by the parser above only")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "statsig-bridge.service")
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(raw), "ExecStart=/usr/local/bin/statsig-bridge", "ExecStart="+self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	Stage int // 0 for the first FROM's stage
	Cmd   string
	Args  string
}

func parseDockerfile(t *testing.T, path string) []dockerInstruction {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out   []dockerInstruction
		stage = -1
		cur   strings.Builder
	)
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, dockerInstruction{Stage: stage, Cmd: cmd, Args: strings.Join(strings.Fields(args), " ")})
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join("..", "..", "Dockerfile"))
	final := ins[len(ins)-1].Stage
	if final < 1 {
		t.Fatalf("%d stage(s): want a multi-stage build (builder, then a small runtime image)", final+1)
	}
	var (
		builder, base, user string
		build               string
		env                 = map[string]string{}
		last                = map[string]string{}
	)
	for _, in := range ins {
		switch {
		case in.Cmd == "FROM" && in.Stage == 0:
			builder = in.Args
		case in.Cmd == "FROM" && in.Stage == final:
			base = in.Args
		case in.Cmd == "RUN" && strings.Contains(in.Args, "go build"):
			build = in.Args
		case in.Cmd == "USER" && in.Stage == final:
			user = in.Args
		case in.Cmd == "ENV" && in.Stage == final:
			for _, kv := range strings.Fields(in.Args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
		if in.Stage == final {
			last[in.Cmd] = in.Args
		}
	}

	// The builder's Go is the module's.
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(builder, "golang:"+string(goVersion[1])+" ") && !strings.HasPrefix(builder, "golang:"+string(goVersion[1])+"-") {
		t.Errorf("builder FROM %q: want golang:%s (go.mod)", builder, goVersion[1])
	}
	// A static binary, stamped with its version in the variable the CLI
	// reads, of the bridge's command.
	module := regexp.MustCompile(`(?m)^module (\S+)`).FindSubmatch(gomod)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X " + string(module[1]) + "/internal/cli.Version=", "./cmd/statsig-bridge"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build step lacks %q: %s", want, build)
		}
	}
	_ = cli.Version // the variable -X sets
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("runtime FROM %q: want distroless/static or scratch (the binary is static)", base)
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "root" || uid == "0" {
		t.Errorf("USER %q: want a non-root user", user)
	}
	for k, want := range map[string]string{"BRIDGE_LISTEN": "0.0.0.0:8080", "BRIDGE_DATA_DIR": "/data"} {
		if env[k] != want {
			t.Errorf("ENV %s=%q, want %q", k, env[k], want)
		}
	}
	for cmd, want := range map[string]string{"EXPOSE": "8080", "ENTRYPOINT": `["statsig-bridge"]`, "CMD": `["serve"]`, "VOLUME": `["/data"]`} {
		if last[cmd] != want {
			t.Errorf("%s %s, want %s", cmd, last[cmd], want)
		}
	}
	var dataOwned bool
	for _, in := range ins {
		dataOwned = dataOwned || in.Stage == final && in.Cmd == "COPY" && strings.HasSuffix(in.Args, " /data") && strings.Contains(in.Args, "--chown="+user)
	}
	if !dataOwned {
		t.Errorf("/data is not created owned by USER %s: a new volume would not be writable", user)
	}

	t.Run("dockerignore keeps the sources", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
		if err != nil {
			t.Fatal(err)
		}
		needed := []string{"go.mod", "go.sum", "cmd/statsig-bridge/main.go", "internal/cli/cli.go", "internal/debugger/ui/index.html", "internal/demo/specs.json"}
		for _, line := range strings.Split(string(raw), "\n") {
			p := strings.TrimSpace(line)
			if p == "" || strings.HasPrefix(p, "#") || strings.HasPrefix(p, "!") {
				continue
			}
			for _, n := range needed {
				if dockerignored(p, n) {
					t.Errorf(".dockerignore %q excludes %s, which the build needs", p, n)
				}
			}
		}
		for _, n := range needed {
			if _, err := os.Stat(filepath.Join("..", "..", n)); err != nil {
				t.Errorf("%s: %v (update the list above)", n, err)
			}
		}
	})

	// The image's environment, as the bridge reads it: off loopback it will
	// not start without SDK keys; with them it serves, and the debugger
	// pages need the UI token.
	t.Run("image environment", func(t *testing.T) {
		listen := strings.Replace(env["BRIDGE_LISTEN"], ":8080", ":0", 1)
		vars := map[string]string{"BRIDGE_LISTEN": listen, "BRIDGE_DATA_DIR": t.TempDir(), "BRIDGE_WAREHOUSE": "off"}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var stderr strings.Builder
		code := cli.Main(ctx, []string{"serve"}, &cli.Env{Stdout: io.Discard, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }})
		if code == cli.ExitOK || !strings.Contains(stderr.String(), "STATSIG_API_KEYS") {
			t.Errorf("serve with the image's environment and no STATSIG_API_KEYS: exit %d\n%s", code, stderr.String())
		}

		vars["STATSIG_API_KEYS"] = "secret-image-key-7777"
		vars["BRIDGE_UI_TOKEN"] = "ui-image-token-8888"
		cfg, err := config.FromEnv(func(k string) string { return vars[k] })
		if err != nil {
			t.Fatal(err)
		}
		addrc := make(chan net.Addr, 1)
		done := make(chan error, 1)
		go func() {
			done <- cli.Serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(a net.Addr) { addrc <- a })
		}()
		var base string
		select {
		case a := <-addrc:
			_, port, _ := net.SplitHostPort(a.String())
			base = "http://127.0.0.1:" + port
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		}
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		}()
		get := func(path string) (int, string) {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		if code, body := get("/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d %s", code, body)
		}
		if code, body := get("/"); code != http.StatusUnauthorized {
			t.Errorf("debugger without the token: %d %s, want 401", code, body)
		}
		if code, _ := get("/?token=" + vars["BRIDGE_UI_TOKEN"]); code != http.StatusOK {
			t.Errorf("debugger with the token: %d, want 200", code)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/log_event", strings.NewReader(`{"events":[{"eventName":"e","user":{"userID":"u"},"time":1764000000000}]}`))
		req.Header.Set("STATSIG-API-KEY", vars["STATSIG_API_KEYS"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ans map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("log_event with the key: %d %v, want 202", resp.StatusCode, ans)
		}
	})
}

// dockerignored reports whether the .dockerignore pattern excludes name
// (a path in the context): the pattern matches it or one of its parent
// directories; "**/" matches any number of leading directories.
func dockerignored(pattern, name string) bool {
	parts := strings.Split(name, "/")
	for n := 1; n <= len(parts); n++ {
		prefix := strings.Join(parts[:n], "/")
		if ok, _ := filepath.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for i := 0; i < n; i++ {
				if ok, _ := filepath.Match(rest, strings.Join(parts[i:n], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}
