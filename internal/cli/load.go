package cli

import (
	"github.com/statsig-bridge/statsig-bridge/internal/config"
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
