package statsig

import (
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// webhookFixtures returns each webhook fixture's body and its
// X-Statsig-Request-Timestamp and X-Statsig-Signature headers.
func webhookFixtures(t testing.TB) (bodies [][]byte, timestamps, signatures []string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "fixtures", "webhook", "*.headers"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no webhook fixtures: %v", err)
	}
	for _, p := range paths {
		hdr, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(strings.TrimSuffix(p, ".headers") + ".body")
		if err != nil {
			t.Fatal(err)
		}
		var ts, sig string
		for _, line := range strings.Split(string(hdr), "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "x-statsig-request-timestamp":
				ts = strings.TrimSpace(v)
			case "x-statsig-signature":
				sig = strings.TrimSpace(v)
			}
		}
		bodies, timestamps, signatures = append(bodies, body), append(timestamps, ts), append(signatures, sig)
	}
	return bodies, timestamps, signatures
}

// FuzzSignatureTimestamp: a correctly signed request is accepted exactly
// when its timestamp, read as an integer in exact arithmetic (seconds when
// below 1e11, milliseconds otherwise), is within the tolerance of now.
// The header is the sender's text; no value may overflow into the window.
func FuzzSignatureTimestamp(f *testing.F) {
	_, timestamps, _ := webhookFixtures(f)
	for _, ts := range timestamps {
		f.Add(ts, int64(1795534352070), int64(300_000))
	}
	f.Add("1795534352", int64(1795534352070), int64(1000))
	f.Add("-9223372036854775", int64(1795534352070), int64(300_000))
	f.Add("+01795534352070", int64(1795534352070), int64(0))
	f.Fuzz(func(t *testing.T, ts string, nowMs, tolMs int64) {
		ts = strings.TrimSpace(ts)
		if tolMs < 0 || tolMs >= 1e12 || nowMs < 1e12 || nowMs > 1e14 {
			return // a clock from 2001 to year 5138; tolerances under 30 years
		}
		secret := []byte("fixture-signing-secret")
		body := []byte(`{"data":[]}`)
		now, tol := time.UnixMilli(nowMs), time.Duration(tolMs)*time.Millisecond
		err := VerifySignature(secret, ts, Sign(secret, ts, body), body, now, tol)
		want := false
		if n, ok := new(big.Int).SetString(ts, 10); ok && ts != "" && !strings.ContainsAny(ts, "_") {
			if n.Cmp(big.NewInt(1e11)) < 0 {
				n.Mul(n, big.NewInt(1000))
			}
			d := new(big.Int).Sub(big.NewInt(nowMs), n)
			want = d.CmpAbs(big.NewInt(tolMs)) <= 0
		}
		if (err == nil) != want {
			t.Fatalf("timestamp %q at now %d ±%d ms: err %v, want accepted %v", ts, nowMs, tolMs, err, want)
		}
		if err != nil && err != ErrSignatureMissing && !strings.Contains(err.Error(), ErrStaleTimestamp.Error()) {
			t.Fatalf("timestamp %q: error %v", ts, err)
		}
	})
}
