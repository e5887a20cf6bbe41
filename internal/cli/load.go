package cli

import (
	"github.com/statsig-bridge/statsig-bridge/internal/config"
	"github.com/statsig-bridge/statsig-bridge/internal/queue"
)

// loadConfig reads --config FILE, or the environment when path is empty,
// and validates it.
func loadConfig(path string, env *Env) (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if path != "" {
		cfg, err = config.Load(path, env.Getenv)
	} else {
		cfg, err = config.FromEnv(env.Getenv)
	}
	if err != nil {
		return nil, &configError{problems: []string{err.Error()}}
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, &configError{problems: problems}
	}
	return cfg, nil
}

// logConfig is the durable log's configuration, for serve and replay alike.
func logConfig(cfg *config.Config) queue.Config {
	return queue.Config{
		URL:                cfg.Log.NATSURL,
		DataDir:            cfg.DataDir,
		MaxBytes:           cfg.Log.MaxBytes,
		Replicas:           cfg.Log.Replicas,
		SyncAlways:         cfg.Log.SyncAlways,
		DeadLetterMaxAge:   cfg.Log.DeadLetterMaxAge,
		DeadLetterMaxBytes: cfg.Log.DeadLetterMaxBytes,
		Stream:             cfg.Log.Stream,
		Subject:            cfg.Log.Subject,
		DeadLetterStream:   cfg.Log.DeadLetterStream,
		DeadLetterSubject:  cfg.Log.DeadLetterSubject,
		Keep:               cfg.Log.Keep,
	}
}
