package warehouse

import (
	"fmt"
	"sync"
	"testing"
)

// TestNameCache: every lookup, from many goroutines at once, is the
// column of its path whether it is cached, just added or over the cap, and
// the cache stops growing at maxCachedNames.
func TestNameCache(t *testing.T) {
	var c nameCache
	const names = maxCachedNames + 3_000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				// Each goroutine walks the names from its own start, so
				// hits, misses and merges interleave.
				path := fmt.Sprintf("metaData.someKey%d", (i+g*names/4)%names)
				if got, want := c.get([]byte(path)), column(path); got != want {
					t.Errorf("get(%q) = %q, want %q", path, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	n := len(c.added)
	if m := c.published.Load(); m != nil {
		n += len(*m)
	}
	if n != maxCachedNames {
		t.Fatalf("cache holds %d names, want the cap %d", n, maxCachedNames)
	}
}
