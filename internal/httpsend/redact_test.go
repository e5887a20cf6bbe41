package httpsend

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

// TestRedactorHidesEchoedCredentials: an answer echoing the request loses
// every form of the credentials (as is, URL-escaped, base64, Basic auth's
// base64 of "key:", the token of "Bearer X"), keeps the rest, and values
// too short to be credentials are left alone.
func TestRedactorHidesEchoedCredentials(t *testing.T) {
	const key, bearer, token = "wk-0123456789abcdef", "Bearer tok/en+with=chars", "q-token-98765"
	r := NewRedactor(key, bearer, token, "on", "")
	echo := strings.Join([]string{
		"key=" + key,
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")),
		"raw " + base64.RawURLEncoding.EncodeToString([]byte(key)),
		"Authorization: " + bearer,
		"token alone: tok/en+with=chars, escaped: tok%2Fen%2Bwith%3Dchars",
		"url: /hook?token=" + token + "&mode=on",
	}, "\n")
	got := r.Redact(echo)
	for _, secret := range []string{key, base64.StdEncoding.EncodeToString([]byte(key + ":")), base64.RawURLEncoding.EncodeToString([]byte(key)),
		"tok/en+with=chars", "tok%2Fen%2Bwith%3Dchars", token} {
		if strings.Contains(got, secret) {
			t.Errorf("%q survived:\n%s", secret, got)
		}
	}
	for _, kept := range []string{"key=" + Redacted, "Authorization: Basic " + Redacted, "Authorization: " + Redacted, "&mode=on"} {
		if !strings.Contains(got, kept) {
			t.Errorf("want %q in:\n%s", kept, got)
		}
	}
	if (*Redactor)(nil).Redact("x") != "x" || NewRedactor().Redact("plain text") != "plain text" {
		t.Error("a Redactor without secrets changed its text")
	}
}

func TestURLSecrets(t *testing.T) {
	got := URLSecrets("https://user:pa55word@hooks.example.com/in?token=abc123456&region=eu&key=k1&key=k2")
	slices.Sort(got)
	want := []string{"abc123456", "eu", "k1", "k2", "pa55word", "user", "user:pa55word"}
	if !slices.Equal(got, want) {
		t.Errorf("URLSecrets = %q, want %q", got, want)
	}
	// The Basic auth Go sends for the URL's user info is hidden whole.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("api-user:api-password-123"))
	if got := NewRedactor(URLSecrets("https://api-user:api-password-123@specs.example.com/")...).Redact("echo: " + basic); got != "echo: Basic "+Redacted {
		t.Errorf("Basic auth of the URL's user info: %q", got)
	}
	if got := URLSecrets("http://a:b@host:notaport/"); len(got) != 1 {
		t.Errorf("an unparsable URL is hidden whole: %q", got)
	}
}
