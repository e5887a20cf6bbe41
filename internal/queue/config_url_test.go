package queue

import (
	"strings"
	"testing"
)

// TestValidateURLHidesCredentials: a NATS URL that does not parse is
// refused before the client sees it (its error quotes the URL, password
// included), with a message that names the problem and not the URL; URLs
// the client accepts — lists, no scheme, credentials — pass.
func TestValidateURLHidesCredentials(t *testing.T) {
	const pw = "nats-pw-LEAK-0001"
	err := Config{URL: "nats://127.0.0.1:4222, nats://u:" + pw + "@127.0.0.1:notaport"}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a URL with port notaport")
	}
	if msg := err.Error(); strings.Contains(msg, pw) || !strings.Contains(msg, "url: server URL 2 of 2 does not parse") || !strings.Contains(msg, "notaport") {
		t.Errorf("Validate = %q: want the problem of URL 2 named, without its password", msg)
	}
	for _, ok := range []string{"nats://127.0.0.1:4222", "127.0.0.1:4222", "nats://u:" + pw + "@a:4222,nats://b:4222", "tls://token@a:4222"} {
		if err := (Config{URL: ok}).Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", ok, err)
		}
	}
}
