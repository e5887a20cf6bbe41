// Package config reads the bridge's configuration: a YAML file with ${VAR}
// taken from the environment, or with no file, environment variables and
// defaults. Unknown keys are errors naming the key; Validate reports every
// problem as "path: reason"; Masked prints the effective configuration with
// every secret hidden.
package config
