package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMeanCI(t *testing.T) {
	// Mean 2, sample sd √(4/3), n 4: half-width t(3 df) × sd/√4.
	mean, lo, hi := meanCI([]float64{1, 3, 1, 3})
	sd := math.Sqrt(4.0 / 3.0)
	want := 3.182 * sd / 2
	if mean != 2 || math.Abs((hi-mean)-want) > 1e-9 || math.Abs((mean-lo)-want) > 1e-9 {
		t.Fatalf("meanCI = %v (%v–%v), want 2 ± %v", mean, lo, hi, want)
	}
}

func TestAlternationReportSkipsFailedWindows(t *testing.T) {
	w := func(watching bool, events, failed int64) window {
		return window{watching: watching, events: events, elapsed: time.Second, failed: failed, browser: 100 * time.Millisecond}
	}
	a := &alternation{every: time.Second, windows: []window{
		w(false, 999, 0), // warm-up: dropped
		w(true, 90e3, 0), w(false, 100e3, 0), w(true, 95e3, 0), w(false, 100e3, 0), w(true, 80e3, 0), w(false, 100e3, 3), w(true, 50e3, 0), w(false, 100e3, 0),
	}}
	var out bytes.Buffer
	a.report(&out)
	s := out.String()
	// Only W95k is compared (0.95): W90k has no window before it, W80k and
	// W50k sit next to the window with refused requests.
	for _, want := range []string{"W90k -100k W95k -100k W80k -100k! W50k -100k", "1 windows with refused or failed requests", "mean 0.950", "over 1 windows"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}
