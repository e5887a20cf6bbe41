package queue

import (
	"fmt"
	"testing"
	"time"

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
