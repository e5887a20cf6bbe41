package main

import (
	"bytes"
	"fmt"
	"strings"
)

// The request body is generated once as a template with a placeholder where
// each request's number goes; each request copies the template and writes
// its number over the placeholders. That keeps the load generator cheap (it
// shares the cores with the bridge) while every request differs: the log
// deduplicates byte-identical requests by design, and real traffic has many
// users.
const placeholder = "############" // 12 digits of request number

// eventTemplates mirror the Go SDK capture with layers
// (testdata/fixtures/go-sdk-layers): exposures of a gate, a dynamic config,
// an experiment, an explicit layer parameter, and custom events. %[1]s is
// the user object, %[2]d the event time, %[3]d a per-event number.
var eventTemplates = []string{
	`{"eventName":"statsig::gate_exposure","user":%[1]s,"value":"","metadata":{"configSyncTime":"1764000000000","configVersion":"3","gate":"load_checkout_gate","gateValue":"true","initTime":"1764000000000","reason":"Network","ruleID":"2qB9xEmployeesRule01","serverTime":"%[2]d"},"secondaryExposures":[],"time":%[2]d,"statsigMetadata":null}`,
	`{"eventName":"statsig::config_exposure","user":%[1]s,"value":"","metadata":{"config":"load_pricing_config","configSyncTime":"1764000000000","configVersion":"5","initTime":"1764000000000","reason":"Network","ruleID":"4hTdachCountryRule03","rulePassed":"true","serverTime":"%[2]d"},"secondaryExposures":[],"time":%[2]d,"statsigMetadata":null}`,
	`{"eventName":"statsig::config_exposure","user":%[1]s,"value":"","metadata":{"config":"load_button_experiment","configSyncTime":"1764000000000","configVersion":"2","initTime":"1764000000000","reason":"Network","ruleID":"5yQbPMfmKQdiRV35hS3B2l","rulePassed":"true","serverTime":"%[2]d"},"secondaryExposures":[{"gate":"load_checkout_gate","gateValue":"true","ruleID":"2qB9xEmployeesRule01"}],"time":%[2]d,"statsigMetadata":null}`,
	`{"eventName":"statsig::layer_exposure","user":%[1]s,"value":"","metadata":{"allocatedExperiment":"load_button_experiment","config":"load_button_layer","configSyncTime":"1764000000000","configVersion":"2","initTime":"1764000000000","isExplicitParameter":"true","parameterName":"button_color","reason":"Network","ruleID":"5yQbPMfmKQdiRV35hS3B2l","serverTime":"%[2]d"},"secondaryExposures":[{"gate":"load_checkout_gate","gateValue":"true","ruleID":"2qB9xEmployeesRule01"}],"time":%[2]d,"statsigMetadata":null}`,
	`{"eventName":"add_to_cart","user":%[1]s,"value":"SKU-%[3]d","metadata":{"price":"9.99","currency":"EUR","quantity":"2"},"time":%[2]d,"statsigMetadata":null}`,
	`{"eventName":"purchase","user":%[1]s,"value":49.5,"metadata":{"items":"3","coupon":"WINTER","paymentMethod":"card"},"time":%[2]d,"statsigMetadata":null}`,
}

// userTemplate is a server SDK user: IDs, email, custom fields, environment.
const userTemplate = `{"userID":"user-%[1]s-%[2]d","email":"user-%[1]s-%[2]d@load.example","country":"DE","custom":{"beta":true,"plan":"pro","seats":12},"statsigEnvironment":{"tier":"production"},"customIDs":{"companyID":"acme-%[2]d","stableID":"stable-%[1]s-%[2]d"}}`

// bodyTemplate is an SDK /v1/log_event body with n events and the offsets
// of the request-number placeholders in it.
type bodyTemplate struct {
	body    []byte
	offsets []int
	events  int
}

// newBodyTemplate builds a body of n events; each request reuses it with
// its own number, giving each request its own users (10 per request).
func newBodyTemplate(n int, eventTime int64) *bodyTemplate {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		user := fmt.Sprintf(userTemplate, placeholder, i%10)
		fmt.Fprintf(&b, eventTemplates[i%len(eventTemplates)], user, eventTime+int64(i), i)
	}
	b.WriteString(`],"statsigMetadata":{"sdkType":"go-sdk","sdkVersion":"v1.35.1","sessionID":"load-`)
	b.WriteString(placeholder)
	b.WriteString(`"}}`)
	t := &bodyTemplate{body: []byte(b.String()), events: n}
	for off := 0; ; {
		i := bytes.Index(t.body[off:], []byte(placeholder))
		if i < 0 {
			break
		}
		t.offsets = append(t.offsets, off+i)
		off += i + len(placeholder)
	}
	return t
}

// render writes the body for request number seq into dst.
func (t *bodyTemplate) render(dst []byte, seq uint64) []byte {
	dst = append(dst[:0], t.body...)
	var num [len(placeholder)]byte
	for i := len(num) - 1; i >= 0; i-- {
		num[i] = '0' + byte(seq%10)
		seq /= 10
	}
	for _, off := range t.offsets {
		copy(dst[off:], num[:])
	}
	return dst
}
