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
	m.Log.NATSURL = maskURL(c.Log.NATSURL)
	m.Destinations = make([]Destination, len(c.Destinations))
	for i, d := range c.Destinations {
		if d.Segment != nil {
			s := *d.Segment
			s.WriteKey = maskSecret(s.WriteKey)
			s.Endpoint = maskURL(s.Endpoint)
			d.Segment = &s
		}
		m.Destinations[i] = d
	}
	return &m
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

func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "****"
	}
	if u.User != nil {
		u.User = url.User("****")
	}
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.Contains(lk, "key") || strings.Contains(lk, "token") || strings.Contains(lk, "secret") || strings.Contains(lk, "password") {
			q.Set(k, "****")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// YAML renders the configuration (mask it first).
func (c *Config) YAML() ([]byte, error) { return yaml.Marshal(c) }

// Secrets returns every secret value in c, for tests and log scrubbing.
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
