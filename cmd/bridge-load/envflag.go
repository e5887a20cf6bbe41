package main

import (
	"fmt"
	"strings"
)

// envOverrides is -env: variables of the in-process bridge's
// configuration, set on top of bridge-load's own.
type envOverrides map[string]string

func (e *envOverrides) String() string { return fmt.Sprint(map[string]string(*e)) }

func (e *envOverrides) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", kv)
	}
	if *e == nil {
		*e = envOverrides{}
	}
	(*e)[k] = v
	return nil
}
