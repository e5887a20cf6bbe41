package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// sdkBody is one SDK-shaped log_event request of n events, each carrying a
// unique marker in metadata.seq: "<worker>-<batch>-<index>".
func sdkBody(worker, batch, n int) (body []byte, markers []string) {
	type user struct {
		UserID    string            `json:"userID"`
		CustomIDs map[string]string `json:"customIDs"`
	}
	type event struct {
		EventName string            `json:"eventName"`
		User      user              `json:"user"`
		Time      int64             `json:"time"`
		Value     int               `json:"value"`
		Metadata  map[string]string `json:"metadata"`
	}
	now := time.Now().UnixMilli()
	events := make([]event, n)
	for i := range events {
		seq := fmt.Sprintf("%d-%d-%d", worker, batch, i)
		markers = append(markers, seq)
		events[i] = event{
			EventName: "e2e_event",
			User: user{UserID: fmt.Sprintf("user-%d-%d", worker, batch%7),
				CustomIDs: map[string]string{"stableID": fmt.Sprintf("stable-%d", worker)}},
			Time:     now,
			Value:    i,
			Metadata: map[string]string{"seq": seq},
		}
	}
	body, _ = json.Marshal(map[string]any{
		"events":          events,
		"statsigMetadata": map[string]string{"sdkType": "e2e-load", "sdkVersion": "1.0.0"},
	})
	return body, markers
}

// postEvents sends an SDK request to base/v1/log_event and returns the
// status code (0 and the error when there was no answer).
func postEvents(client *http.Client, base string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/v1/log_event", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("STATSIG-API-KEY", "client-e2e-key")
	req.Header.Set("STATSIG-CLIENT-TIME", strconv.FormatInt(time.Now().UnixMilli(), 10))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// mustPost sends one SDK request and fails the test unless it is accepted.
func mustPost(t testing.TB, base string, body []byte) {
	t.Helper()
	code, err := postEvents(http.DefaultClient, base, body)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("posting events: %d %v", code, err)
	}
}

// load posts SDK batches from several workers, as SDKs do: a request that
// got no 202 is sent again, byte for byte, a few times. It records which
// markers the bridge acknowledged (202); only those must arrive.
type load struct {
	base   string
	client *http.Client
	stop   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	acked    map[string]bool
	batches  int // acknowledged requests
	failures int // attempts without a 202
}

func startLoad(t testing.TB, base string, workers, perBatch int) *load {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	l := &load{base: base, client: &http.Client{Timeout: 10 * time.Second, Transport: tr},
		stop: make(chan struct{}), acked: map[string]bool{}}
	for w := range workers {
		l.wg.Add(1)
		go l.run(w, perBatch)
	}
	t.Cleanup(l.Stop)
	return l
}

func (l *load) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *load) run(worker, perBatch int) {
	defer l.wg.Done()
	for n := 0; !l.stopped(); n++ {
		body, markers := sdkBody(worker, n, perBatch)
		for attempt := 0; attempt < 5 && !l.stopped(); attempt++ {
			code, _ := l.postOnce(body)
			if code == http.StatusAccepted {
				l.mu.Lock()
				for _, m := range markers {
					l.acked[m] = true
				}
				l.batches++
				l.mu.Unlock()
				break
			}
			l.mu.Lock()
			l.failures++
			l.mu.Unlock()
			// Pace the retries of a client whose bridge is down.
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (l *load) postOnce(body []byte) (int, error) { return postEvents(l.client, l.base, body) }

// Stop ends the load and waits for the workers; it is idempotent.
func (l *load) Stop() {
	l.mu.Lock()
	if !l.stopped() {
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
	l.client.CloseIdleConnections()
}

// Batches is the number of acknowledged requests so far.
func (l *load) Batches() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batches
}

// Failures is the number of attempts that got no 202.
func (l *load) Failures() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures
}

// Acked returns the acknowledged markers.
func (l *load) Acked() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]bool, len(l.acked))
	for m := range l.acked {
		out[m] = true
	}
	return out
}

// delivery is what the sink got, per marker: the messageId of each copy.
type delivery map[string][]string

// deliveries groups the sink's messages by their metadata.seq marker.
func deliveries(s *sink) delivery {
	d := delivery{}
	for _, m := range s.Messages() {
		id, _ := m["messageId"].(string)
		d[marker(m)] = append(d[marker(m)], id)
	}
	return d
}

// marker reads properties.metadata.seq of a Segment message.
func marker(m map[string]any) string {
	props, _ := m["properties"].(map[string]any)
	md, _ := props["metadata"].(map[string]any)
	seq, _ := md["seq"].(string)
	return seq
}

// missing returns how many of want the sink has not received, and one.
func (d delivery) missing(want map[string]bool) (n int, example string) {
	for m := range want {
		if len(d[m]) == 0 {
			n++
			example = m
		}
	}
	return n, example
}

// missingRequests names the requests (worker-batch) whose events are
// missing, with how many of each: whether a loss is whole requests, whole
// log batches of several requests, or single events tells where it is.
func (d delivery) missingRequests(want map[string]bool) string {
	count := map[string]int{}
	for m := range want {
		if len(d[m]) == 0 {
			if i := strings.LastIndexByte(m, '-'); i > 0 {
				count[m[:i]]++
			}
		}
	}
	reqs := make([]string, 0, len(count))
	for r, n := range count {
		reqs = append(reqs, fmt.Sprintf("%s(%d)", r, n))
	}
	sort.Strings(reqs)
	if len(reqs) > 200 {
		reqs = append(reqs[:200], "...")
	}
	return strings.Join(reqs, " ")
}

// checkCopies asserts that every copy of a marker carries the same
// messageId and that no two markers share one; it returns the number of
// surplus copies (duplicates).
func (d delivery) checkCopies(t testing.TB) (duplicates int) {
	t.Helper()
	owner := map[string]string{}
	for m, ids := range d {
		for _, id := range ids {
			if id != ids[0] {
				t.Errorf("event %s arrived with messageIds %s and %s", m, ids[0], id)
			}
		}
		if prev, ok := owner[ids[0]]; ok {
			t.Errorf("events %s and %s share messageId %s", prev, m, ids[0])
		}
		owner[ids[0]] = m
		duplicates += len(ids) - 1
	}
	return duplicates
}

// waitDelivered waits until every marker in want is at the sink.
func waitDelivered(t testing.TB, s *sink, want map[string]bool, timeout time.Duration) delivery {
	t.Helper()
	var d delivery
	deadline := time.Now().Add(timeout)
	for {
		if s.Unique() >= len(want) {
			d = deliveries(s)
			n, example := d.missing(want)
			if n == 0 {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d acknowledged events never reached the sink after %s (e.g. %s); missing by request: %s",
					n, len(want), timeout, example, d.missingRequests(want))
			}
		} else if time.Now().After(deadline) {
			d = deliveries(s)
			n, example := d.missing(want)
			t.Fatalf("%d of %d acknowledged events never reached the sink after %s (e.g. %s); missing by request: %s",
				n, len(want), timeout, example, d.missingRequests(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric reads one series from base/metrics, e.g.
// `statsig_bridge_destination_paused{destination="segment"}`; it returns
// 0 and false when the series is not there (yet).
func metric(t testing.TB, base, series string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i > 0 && line[:i] == series {
			value := line[i+1:]
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %q is not a number", series, value)
			}
			return v, true
		}
	}
	return 0, false
}

// metricSum adds up every series of the metric name (all label values).
func metricSum(t testing.TB, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 || (line[:i] != name && !strings.HasPrefix(line[:i], name+"{")) {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric %s: %q is not a number", line[:i], line[i+1:])
		}
		sum += v
	}
	return sum
}
