// Command statsig-bridge receives Statsig events, keeps them in a durable
// log and delivers them to Segment. See README.md.
package main

import (
	"context"
	"os"

	"github.com/statsig-bridge/statsig-bridge/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], nil))
}
