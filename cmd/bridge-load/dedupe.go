package main

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
)

// filteredDuplicates reads the bridge's count of exposures filtered as
// duplicate_exposure (every destination), 0 when it cannot.
func filteredDuplicates(base string) float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "statsig_bridge_filtered_events_total{") || !strings.Contains(line, `reason="duplicate_exposure"`) {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}
