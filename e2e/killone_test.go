package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/testwait"
)

// TestKillOneOfTwoProcessesLosesNothing runs two `serve` processes on the
// external NATS server sharing the stream and the destination's durable
// consumer, posts load to both, kills one with SIGKILL mid-load and never
// restarts it. Every event either process acknowledged must still reach the
// sink: the batches the dead process held unacked come back after ack_wait
// and the survivor delivers them.
func TestKillOneOfTwoProcessesLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("a long fault run (kill -9 of one of two processes under load); go test without -short runs it")
	}
	url := externalNATSURL(t)
	s := newSink(t)
	procs, _ := startSharedProcesses(t, url, 2, s)
	const perBatch = 100
	la := startLoadWorkers(t, procs[0].URL, 0, 2, perBatch)
	lb := startLoadWorkers(t, procs[1].URL, 100, 2, perBatch)
	testwait.For(t, 30*time.Second, "load accepted and delivered by both processes", func() bool {
		return la.Batches() >= 100 && lb.Batches() >= 100 &&
			metricSum(t, procs[0].URL, "statsig_bridge_delivered_events_total") > 0 &&
			metricSum(t, procs[1].URL, "statsig_bridge_delivered_events_total") > 0
	})
	procs[0].Signal(t, syscall.SIGKILL)
	procs[0].Wait(t, 10*time.Second)
	la.Stop()
	testwait.For(t, 20*time.Second, "more load on the survivor", func() bool { return lb.Batches() >= 300 })
	lb.Stop()
	want := union(la.Acked(), lb.Acked())
	d := waitDelivered(t, s, want, 60*time.Second)
	dups := d.checkCopies(t)
	t.Logf("%d events acknowledged (%d + %d requests), %d duplicate copies", len(want), la.Batches(), lb.Batches(), dups)
}
