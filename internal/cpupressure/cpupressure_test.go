package cpupressure

import (
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/cpupressure/pressuretest"
)

func TestDeltaCountsSlowSchedulings(t *testing.T) {
	buckets := []float64{0, 1e-6, 1e-3, 1e-2, 1} // lower bounds of 4 counts (+ the upper bound)
	prev := []uint64{10, 10, 0, 0}
	counts := []uint64{1010, 110, 5, 2}
	total, slow := delta(counts, prev, buckets, 1e-3)
	if total != 1107 || slow != 7 {
		t.Errorf("delta = %d, %d; want 1107 schedulings, 7 of them 1 ms or longer", total, slow)
	}
}

// TestPressedWhenEveryCoreIsTaken: with 4 busy goroutines per core, the
// goroutines that wake up (here a ticker's) wait for a core.
func TestPressedWhenEveryCoreIsTaken(t *testing.T) {
	g := New()
	pressuretest.Spin(t)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for !g.Pressed(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("not pressed within 30 s with every core taken")
		}
		<-tick.C
	}
}

func TestActivityBusyInHalfTheLastSecond(t *testing.T) {
	var a Activity
	t0 := time.Unix(1_800_000_000, 0)
	if a.Busy(t0) {
		t.Fatal("never marked, busy")
	}
	for i := range 4 { // 4 tenths of a second marked
		a.Mark(t0.Add(time.Duration(i) * 100 * time.Millisecond))
	}
	if a.Busy(t0.Add(400 * time.Millisecond)) {
		t.Error("4 of 10 tenths: busy")
	}
	a.Mark(t0.Add(450 * time.Millisecond))
	if !a.Busy(t0.Add(450 * time.Millisecond)) {
		t.Error("5 of 10 tenths: not busy")
	}
	if a.Busy(t0.Add(2 * time.Second)) {
		t.Error("nothing in the last second: busy")
	}
}
