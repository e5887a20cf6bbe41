package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestStateBucketClaim: a claim stores a key's first value; a later claim
// of the same key, with another value, gets the first one back, also
// after the log is closed and opened again (embedded: the data dir) or
// from another connection (external: every process shares the bucket).
func TestStateBucketClaim(t *testing.T) {
	for name, be := range map[string]backend{"embedded": embeddedBackend, "external": externalBackend} {
		t.Run(name, func(t *testing.T) {
			cfg := be(t)
			l := openLog(t, cfg)
			ctx := testContext(t)
			if cfg.URL != "" {
				t.Cleanup(func() { deleteStreams(t, cfg.URL, "KV_"+cfg.Stream+"_DEDUPE_d") })
			}
			b, err := l.StateBucket(ctx, "DEDUPE", "d", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3000 // more than one pipelined chunk
			keys := make([]string, n)
			first, second := make([][]byte, n), make([][]byte, n)
			for i := range keys {
				keys[i] = fmt.Sprintf("k%04d", i)
				first[i] = []byte(fmt.Sprintf("first-%d", i))
				second[i] = []byte(fmt.Sprintf("second-%d", i))
			}
			got, err := b.Claim(ctx, keys, first)
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range got {
				if !e.Mine || string(e.Value) != string(first[i]) {
					t.Fatalf("first claim of %s: %+v", keys[i], e)
				}
			}
			// Half again with new values, half with their own: both find
			// the first value; only the new values are refused.
			mixed := append(append([][]byte{}, second[:n/2]...), first[n/2:]...)
			check := func(b *Bucket) {
				t.Helper()
				got, err := b.Claim(ctx, keys, mixed)
				if err != nil {
					t.Fatal(err)
				}
				for i, e := range got {
					if e.Mine || string(e.Value) != string(first[i]) || e.Created.IsZero() {
						t.Fatalf("second claim of %s: %+v, want %q", keys[i], e, first[i])
					}
				}
			}
			check(b)
			if cfg.URL == "" {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				l = openLog(t, cfg)
			} else {
				l = openLog(t, cfg) // a second process's connection
			}
			b2, err := l.StateBucket(ctx, "DEDUPE", "d", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			check(b2)
		})
	}
}

// TestStateBucketExpires: a key older than the TTL is claimable again, and
// Get and Put read and overwrite values.
func TestStateBucketExpires(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	ctx := testContext(t)
	b, err := l.StateBucket(ctx, "DEDUPE", "d", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, []string{"a"}, [][]byte{[]byte("1")}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, "the key to expire", func() bool {
		got, err := b.Claim(ctx, []string{"a"}, [][]byte{[]byte("2")})
		if err != nil {
			t.Fatal(err)
		}
		return got[0].Mine && string(got[0].Value) == "2"
	})
	ident, err := l.StateBucket(ctx, "IDENT", "d", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ident.Put(ctx, []string{"u1", "u2"}, [][]byte{[]byte("h1"), []byte("h2")}); err != nil {
		t.Fatal(err)
	}
	if err := ident.Put(ctx, []string{"u1"}, [][]byte{[]byte("h3")}); err != nil {
		t.Fatal(err)
	}
	vals, err := ident.Get(ctx, []string{"u1", "u2", "u3"})
	if err != nil {
		t.Fatal(err)
	}
	if string(vals[0]) != "h3" || string(vals[1]) != "h2" || vals[2] != nil {
		t.Fatalf("Get = %q", vals)
	}
}

// TestRemoveDestinationRemovesStateBuckets: a removed destination's state
// goes with its position.
func TestRemoveDestinationRemovesStateBuckets(t *testing.T) {
	l := openLog(t, embeddedBackend(t))
	ctx := testContext(t)
	openConsumer(t, l, "gone", ConsumerOptions{})
	for _, purpose := range []string{"DEDUPE", "IDENT"} {
		if _, err := l.StateBucket(ctx, purpose, "gone", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RemoveDestination(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, purpose := range []string{"DEDUPE", "IDENT"} {
		if _, err := l.js.KeyValue(ctx, l.cfg.Stream+"_"+purpose+"_gone"); err == nil {
			t.Errorf("the %s bucket of a removed destination is still there", purpose)
		}
	}
	// A destination without state buckets is removed too.
	openConsumer(t, l, "plain", ConsumerOptions{})
	if err := l.RemoveDestination(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
}

// TestStateBucketOnServerWithoutBatchedReads: a server before 2.11 has no
// batched direct get (multi_last); claims and reads fall back to a request
// per key and decide the same. Run on BRIDGE_TEST_OLD_NATS_URL (Debian's
// 2.9.10), with the bucket made directly: the log itself refuses servers
// before MinServerVersion, but 2.9.15–2.10 are supported and read alike.
func TestStateBucketOnServerWithoutBatchedReads(t *testing.T) {
	url := os.Getenv("BRIDGE_TEST_OLD_NATS_URL")
	if url == "" {
		t.Skip("BRIDGE_TEST_OLD_NATS_URL is not set: set it to a nats-server before 2.11 (e.g. Debian 12's 2.9.10) to test the per-key fallback")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	name := "TEST_OLD_" + strings.ToUpper(randomID(t))
	cfg := jetstream.KeyValueConfig{Bucket: name, TTL: time.Hour, History: 1, Storage: jetstream.FileStorage}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteKeyValue(context.Background(), name) })
	b := &Bucket{js: js, kv: kv, cfg: cfg, name: name, prefix: "$KV." + name + ".", ttl: time.Hour}
	if _, err := b.getMany(ctx, []string{"a"}); !errors.Is(err, errMultiGetUnsupported) {
		t.Fatalf("getMany on %s: %v, want errMultiGetUnsupported", nc.ConnectedServerVersion(), err)
	}
	if _, err := b.Claim(ctx, []string{"a", "b"}, [][]byte{[]byte("1"), []byte("2")}); err != nil {
		t.Fatal(err)
	}
	got, err := b.Claim(ctx, []string{"a", "b", "c"}, [][]byte{[]byte("x"), []byte("2"), []byte("3")})
	if err != nil {
		t.Fatal(err)
	}
	if string(got[0].Value) != "1" || got[0].Mine || string(got[1].Value) != "2" || got[1].Mine || !got[2].Mine {
		t.Fatalf("second claim: %+v", got)
	}
	vals, err := b.Get(ctx, []string{"a", "z"})
	if err != nil || string(vals[0]) != "1" || vals[1] != nil {
		t.Fatalf("Get = %q, %v", vals, err)
	}
}
