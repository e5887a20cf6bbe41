// Package cli is the statsig-bridge command line: the subcommand table,
// flag parsing, exit codes, and the wiring of every other package.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitUsage  = 2
	ExitConfig = 3
)

// Version is set at build time (-ldflags "-X …/internal/cli.Version=v1.2.3").
var Version = ""

// version returns the bridge's version.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// command is one subcommand.
type command struct {
	Name  string
	Usage string
	Short string
	Run   func(ctx context.Context, env *Env, args []string) error
}

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

var commands = []command{
	{"serve", "serve [--config FILE] [--demo]", "run the bridge: intake, durable log, destinations", runServe},
	{"validate", "validate [--config FILE]", "check a config and print the effective one, secrets masked", runValidate},
	{"preview", "preview [--config FILE] [--specs FILE] [FILE|-]", "print the Segment messages each destination would send for some Statsig events (no network)", runPreview},
	{"import", "import [--url URL] [--rate N] [--resume] FILE...", "load historical Statsig events into a running bridge, original times kept (README \"Backfill\")", runImport},
	{"replay", "replay --destination D [--since T] [--until T]", "re-send kept log batches (or --dead-letters) to one destination, same messageIds (README \"Replay\")", runReplay},
	{"version", "version", "print the version", func(_ context.Context, env *Env, _ []string) error {
		fmt.Fprintln(env.Stdout, "statsig-bridge", version())
		return nil
	}},
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, env *Env) int {
	if env == nil {
		env = &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands {
		if c.Name == args[0] {
			err := c.Run(ctx, env, args[1:])
			switch {
			case err == nil:
				return ExitOK
			case errors.Is(err, flag.ErrHelp):
				return ExitOK
			case errors.As(err, new(*usageError)):
				fmt.Fprintf(env.Stderr, "statsig-bridge %s: %v\nusage: statsig-bridge %s\n", c.Name, err, c.Usage)
				return ExitUsage
			case errors.As(err, new(*configError)):
				fmt.Fprintf(env.Stderr, "statsig-bridge %s: %v\n", c.Name, err)
				return ExitConfig
			}
			fmt.Fprintf(env.Stderr, "statsig-bridge %s: %v\n", c.Name, err)
			return ExitError
		}
	}
	fmt.Fprintf(env.Stderr, "statsig-bridge: unknown command %q\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "statsig-bridge: Statsig events in, durable log, Segment Track events out.")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-52s %s\n", c.Usage, c.Short)
	}
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

type configError struct{ problems []string }

func (e *configError) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.problems, "\n  ")
}

func newFlags(name string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	return nil
}
