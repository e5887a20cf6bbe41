package httpsend

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Redacted replaces a credential in text a target sent back.
const Redacted = "[redacted]"

// minSecretLen is the shortest value treated as a credential: hiding every
// "1" or "on" in an answer would garble it and protect nothing.
const minSecretLen = 8

// Redactor hides a destination's own credentials in text that came back
// from its target. An error answer may echo the request — its URL, its
// Authorization or STATSIG-API-KEY header — and that text goes on to the
// logs, the debugger's delivery view and the dead letters, all of which are
// read by people who must not learn the credentials.
type Redactor struct {
	r *strings.Replacer
}

// NewRedactor returns a Redactor for the given secrets: each one as is,
// URL-escaped, and in base64 alone and as the user of HTTP Basic auth with
// an empty password (Segment's write key), and for a header value such as
// "Bearer X" also X alone.
func NewRedactor(secrets ...string) *Redactor {
	seen := map[string]bool{}
	var forms []string
	var add func(s string)
	add = func(s string) {
		if len(s) < minSecretLen || seen[s] {
			return
		}
		seen[s] = true
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			forms = append(forms, enc.EncodeToString([]byte(s)), enc.EncodeToString([]byte(s+":")))
		}
		if _, token, ok := strings.Cut(s, " "); ok {
			add(strings.TrimSpace(token))
		}
	}
	for _, s := range secrets {
		add(s)
	}
	// Longest first: at one position the first match wins, so "Bearer X"
	// is replaced whole rather than leaving "Bearer " before the mark.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	pairs := make([]string, 0, 2*len(forms))
	dup := map[string]bool{}
	for _, f := range forms {
		if !dup[f] {
			dup[f] = true
			pairs = append(pairs, f, Redacted)
		}
	}
	return &Redactor{r: strings.NewReplacer(pairs...)}
}

// Redact returns s with every credential replaced by [redacted].
func (r *Redactor) Redact(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// URLSecrets returns the credentials a target URL carries: the user and
// password of its userinfo (and the two joined, as Basic auth sends them), and the values of its query parameters (a
// proxy's or a receiver's token often travels as ?token= or ?key=).
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return []string{raw} // unparsable: hide it whole
	}
	var out []string
	if u.User != nil {
		out = append(out, u.User.Username())
		if pw, ok := u.User.Password(); ok {
			// user:password too: Go sends the URL's user info as Basic auth,
			// base64("user:password"), and an answer may echo that header.
			out = append(out, pw, u.User.Username()+":"+pw)
		}
	}
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	return out
}

// RedactURL returns a URL's scheme and host only, or fallback when it has
// none: user info, paths and query strings often carry tokens (a webhook's
// ?token=, the config-specs path's server secret), and errors go on to
// logs, metrics and dead letters.
func RedactURL(raw, fallback string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fallback
	}
	return u.Scheme + "://" + u.Host
}
