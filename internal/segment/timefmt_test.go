package segment

import (
	"math/rand/v2"
	"testing"
	"time"
)

// appendTime must write exactly what AppendFormat writes.
func TestAppendTimeMatchesAppendFormat(t *testing.T) {
	zone := time.FixedZone("X", -7*3600-30*60)
	times := []time.Time{
		{},
		time.Unix(0, 0),
		time.UnixMilli(1764000000123),
		time.UnixMilli(1764000000123).In(zone),
		time.Date(2026, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1_000_000, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(7, 3, 4, 5, 6, 7, 8_900_000, time.UTC),
		time.UnixMilli(-1),
		time.UnixMilli(1e15),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		times = append(times, time.Unix(0, rng.Int64()).In(zone), time.UnixMilli(rng.Int64N(4e12)-1e12))
	}
	for _, tm := range times {
		want := string(tm.UTC().AppendFormat([]byte("x"), TimeFormat))
		if got := string(appendTime([]byte("x"), tm)); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
