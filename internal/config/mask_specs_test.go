package config_test

import (
	"strings"
	"testing"
)

// TestSpecsAPICredentialsMasked: a specs API behind a proxy that takes
// credentials (userinfo or a ?token=) shows them neither in the masked
// configuration (validate, the debugger's Config view) nor in the
// validation error of a URL that is not http(s).
func TestSpecsAPICredentialsMasked(t *testing.T) {
	for _, api := range []string{"https://bridge:specs-proxy-password@proxy.example.com/v1?token=specs-proxy-token",
		"ftp://bridge:specs-proxy-password@proxy.example.com/v1?token=specs-proxy-token"} {
		cfg, err := load(t, "specs:\n  server_secret: secret-specs-0000000000\n  api: "+api+"\n", env{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cfg.Masked().YAML()
		if err != nil {
			t.Fatal(err)
		}
		shown := string(out) + strings.Join(cfg.Validate(), "\n")
		for _, s := range []string{"specs-proxy-password", "specs-proxy-token", "secret-specs-0000000000"} {
			if strings.Contains(shown, s) {
				t.Errorf("%s: %q shown:\n%s", api, s, shown)
			}
		}
		if !strings.Contains(shown, "proxy.example.com/v1") {
			t.Errorf("%s: the masked URL lost its host and path:\n%s", api, shown)
		}
	}
}
