package config

import (
	"net/url"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Masked returns a copy of c with every secret replaced by "****" (or its
// last four characters when longer than 12, so an operator can tell keys
// apart) and passwords or tokens in URLs hidden.
func (c *Config) Masked() *Config {
	m := *c
	m.Intake.APIKeys = make([]string, len(c.Intake.APIKeys))
	for i, k := range c.Intake.APIKeys {
		m.Intake.APIKeys[i] = maskSecret(k)
	}
	m.Intake.WebhookSecret = maskSecret(c.Intake.WebhookSecret)
	m.Specs.ServerSecret = maskSecret(c.Specs.ServerSecret)
	m.Specs.API = maskURL(c.Specs.API) // a proxy in front of Statsig may take credentials
	m.UI.Token = maskSecret(c.UI.Token)
	m.UI.BasicAuth = maskSecret(c.UI.BasicAuth)
	m.Log.NATSURL = maskURL(c.Log.NATSURL)
	m.Destinations = make([]Destination, len(c.Destinations))
	for i, d := range c.Destinations {
		if d.Segment != nil {
			s := *d.Segment
			s.WriteKey = maskSecret(s.WriteKey)
			s.Endpoint = maskURL(s.Endpoint)
			d.Segment = &s
		}
		if d.Warehouse != nil {
			w := *d.Warehouse
			w.DSN = maskDSN(w.DSN)
			d.Warehouse = &w
		}
		if d.Webhook != nil {
			w := *d.Webhook
			w.URL = maskURL(w.URL)
			w.Secret = maskSecret(w.Secret)
			if len(w.Headers) > 0 {
				w.Headers = make(map[string]string, len(d.Webhook.Headers))
				for k, v := range d.Webhook.Headers {
					w.Headers[k] = maskSecret(v)
				}
			}
			d.Webhook = &w
		}
		if d.Statsig != nil {
			st := *d.Statsig
			st.API = maskURL(st.API)
			st.ServerSecret = maskSecret(st.ServerSecret)
			d.Statsig = &st
		}
		m.Destinations[i] = d
	}
	return &m
}

// maskDSN hides a database DSN's password: URL form, or key=value form
// (password=…). What Secrets reads as URL credentials is masked as a URL
// even without a scheme ("//user:pw@host/db").
func maskDSN(s string) string {
	if strings.Contains(s, "://") {
		return maskURL(s)
	}
	fields := strings.Fields(s)
	for i, f := range fields {
		if k, _, ok := strings.Cut(f, "="); ok && strings.EqualFold(k, "password") {
			fields[i] = k + "=****"
		}
	}
	out := strings.Join(fields, " ")
	if len(urlSecrets(out)) > 0 {
		return maskURL(out)
	}
	return out
}

func maskSecret(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) > 12:
		return "****" + s[len(s)-4:]
	}
	return "****"
}

// maskURL hides the credentials of a URL, or of each URL in a
// comma-separated list (a NATS cluster): the userinfo, and query values
// whose name says key, token, secret or password.
func maskURL(s string) string {
	if strings.Contains(s, ",") {
		parts := strings.Split(s, ",")
		for i, p := range parts {
			parts[i] = maskURL(strings.TrimSpace(p))
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(strings.TrimSpace(s)) // as urlSecrets reads it
	if err != nil {
		return "****"
	}
	masked := u.User != nil
	if masked {
		u.User = url.User("MASKED")
	}
	q := u.Query()
	for k := range q {
		if sensitiveParam(k) {
			q.Set(k, "****")
		}
	}
	u.RawQuery = q.Encode()
	out := u.String()
	if masked {
		out = strings.Replace(out, "MASKED@", "****@", 1)
	}
	return out
}

func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "key") || strings.Contains(n, "token") || strings.Contains(n, "secret") || strings.Contains(n, "password")
}

// urlSecrets returns the credentials in a URL or comma-separated URLs.
func urlSecrets(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			continue
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				out = append(out, pw)
			} else if name := u.User.Username(); name != "" {
				out = append(out, name) // nats://TOKEN@host
			}
		}
		for k, vs := range u.Query() {
			if sensitiveParam(k) {
				for _, v := range vs {
					if v != "" {
						out = append(out, v)
					}
				}
			}
		}
	}
	return out
}

// YAML renders the configuration (mask it first).
func (c *Config) YAML() ([]byte, error) { return yaml.Marshal(c) }

// Secrets returns every secret value in c, for tests and log scrubbing:
// the secret fields, and the credentials inside URLs.
func (c *Config) Secrets() []string {
	var out []string
	collect(reflect.ValueOf(c).Elem(), &out)
	return out
}

func collect(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			collect(v.Elem(), out)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			collect(v.Index(i), out)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := v.Field(i)
			if t.Field(i).Tag.Get("secret") == "url" && f.Kind() == reflect.String {
				*out = append(*out, urlSecrets(f.String())...)
				for _, kv := range strings.Fields(f.String()) {
					if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "password") && v != "" {
						*out = append(*out, v)
					}
				}
				continue
			}
			if t.Field(i).Tag.Get("secret") == "values" && f.Kind() == reflect.Map {
				for _, k := range f.MapKeys() {
					if v := f.MapIndex(k).String(); v != "" {
						*out = append(*out, v)
					}
				}
				continue
			}
			if t.Field(i).Tag.Get("secret") == "true" {
				switch f.Kind() {
				case reflect.String:
					if f.String() != "" {
						*out = append(*out, f.String())
					}
				case reflect.Slice:
					for j := 0; j < f.Len(); j++ {
						*out = append(*out, f.Index(j).String())
					}
				}
				continue
			}
			collect(f, out)
		}
	}
}
