package queue

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
)

// startEmbedded runs nats-server in this process with JetStream stored under
// cfg.DataDir/jetstream. DontListen keeps it off the network entirely: the
// bridge is its only client, connected through an in-process pipe, so there
// is no port to collide with, firewall or secure.
func startEmbedded(cfg Config, logger *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "statsig-bridge",
		JetStream:  true,
		StoreDir:   cfg.DataDir, // the server appends "jetstream" itself
		DontListen: true,
		NoSigs:     true, // signals belong to the bridge, which shuts the server down itself
		NoLog:      true, // we install our own logger below
		MaxPayload: cfg.MaxMsgSize + headerAllowance,
		SyncAlways: cfg.SyncAlways,
		// Pin the store budget to what our streams may hold instead of the
		// default of 75% of free disk: with the default, a restart on a
		// fuller disk could refuse to re-apply our stream config, which is
		// exactly when crash recovery must work.
		JetStreamMaxStore: embeddedMaxStore(cfg),
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("creating embedded nats-server: %w", err)
	}
	ns.SetLogger(serverLogger{logger.With("component", "nats-server")}, false, false)
	ns.Start()
	if !ns.ReadyForConnections(embeddedReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("starting embedded nats-server in %s: not ready after %s", cfg.DataDir, embeddedReadyTimeout)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("starting embedded JetStream in %s: JetStream did not start (see warnings above)", cfg.DataDir)
	}
	return ns, nil
}

// embeddedMaxStore is both streams' byte limits plus headroom for the file
// store's own overhead, so that the streams, not the server, hit their limit
// first and Publish reports ErrFull cleanly.
func embeddedMaxStore(cfg Config) int64 {
	sum := cfg.MaxBytes + cfg.DeadLetterMaxBytes + cfg.statsBytes()
	return sum + sum/embeddedStoreHeadroomRatio
}

// serverLogger routes nats-server's own log into slog. Notices, debug and
// trace are dropped: the server is an implementation detail and its startup
// banner would drown the bridge's log. Warnings and errors are kept.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) Noticef(string, ...any) {}
func (s serverLogger) Debugf(string, ...any)  {}
func (s serverLogger) Tracef(string, ...any)  {}
func (s serverLogger) Warnf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if strings.HasPrefix(msg, largePayloadWarning) {
		// The advice is for networked clients buffering 8 MB messages;
		// the embedded server has one in-process client, the bridge, and
		// a log message is one SDK request (up to max_msg_size) by design.
		s.l.Debug("the embedded log takes messages of up to max_msg_size: one SDK request each", "nats_server", msg)
		return
	}
	s.l.Warn(msg)
}

// largePayloadWarning starts nats-server's warning, at every start, that its
// max_payload is above 8 MB.
const largePayloadWarning = "Maximum payloads over"

func (s serverLogger) Errorf(format string, v ...any) {
	s.l.Error(fmt.Sprintf(format, v...))
}

// Fatalf is logged, not fatal: the server must never exit the bridge's process.
func (s serverLogger) Fatalf(format string, v ...any) {
	s.l.Error(fmt.Sprintf(format, v...), "fatal", true)
}
