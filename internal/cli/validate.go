package cli

import (
	"context"
	"fmt"
)

// runValidate decodes the config, builds every component's settings and
// prints the effective configuration with secrets masked. It starts nothing.
func runValidate(_ context.Context, env *Env, args []string) error {
	fs := newFlags("validate", env)
	path := fs.String("config", "", "YAML config `file` (default: environment variables)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, env)
	if err != nil {
		return err
	}
	// Build every component as serve would, starting nothing.
	benv := buildEnv{Cfg: cfg, Logger: newLogger(env.Stderr, "error")}
	for _, d := range cfg.Destinations {
		if _, err := buildEncoder(benv, d); err != nil {
			return &configError{problems: []string{err.Error()}}
		}
	}
	out, err := cfg.Masked().YAML()
	if err != nil {
		return fmt.Errorf("rendering the config: %w", err)
	}
	fmt.Fprintln(env.Stdout, "# configuration is valid; effective values, secrets masked:")
	_, err = env.Stdout.Write(out)
	return err
}
