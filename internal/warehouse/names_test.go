package warehouse_test

import (
	"strings"
	"testing"

	"github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

// TestSnakeMatchesGoSnakecase is the measured go-snakecase table
// (segment-reference §5.3), byte for byte.
func TestSnakeMatchesGoSnakecase(t *testing.T) {
	cases := map[string]string{
		"statsig::gate_exposure":       "statsig_gate_exposure",
		"statsig::config_exposure":     "statsig_config_exposure",
		"statsig::experiment_exposure": "statsig_experiment_exposure",
		"statsig::layer_exposure":      "statsig_layer_exposure",
		"Statsig::Gate Exposure":       "statsig_gate_exposure",
		"Experiment Viewed":            "experiment_viewed",
		"Order Completed":              "order_completed",
		"accountType":                  "account_type",
		"userAgent":                    "user_agent",
		"experimentID":                 "experiment_id",
		"userID":                       "user_id",
		"stableID":                     "stable_id",
		"HTMLParser":                   "htmlparser",
		"IPAddress":                    "ipaddress",
		"APIKey":                       "apikey",
		"fooBARBaz":                    "foo_barbaz",
		"CStringRef":                   "cstring_ref",
		"v2Event":                      "v2_event",
		"abc123DEF":                    "abc123_def",
		"ABC123def":                    "abc123def",
		"eventName123":                 "event_name123",
		"2FA Enabled":                  "2fa_enabled",
		"101 Account Update":           "101_account_update",
		"sample___text":                "sample_text",
		"a__b":                         "a_b",
		"__private":                    "private",
		"_x":                           "x",
		"x_":                           "x",
		"My-Event.v2":                  "my_event_v2",
		"something.com":                "something_com",
		"café latté":                   "caf_latt",
		"café":                         "caf",
		"ÄBC":                          "bc",
		"🙂 Signed Up":                  "signed_up",
		"日本語":                          "",
		"":                             "",
		"__":                           "",
		"context.page.url":             "context_page_url",
		"metadata_gateValue":           "metadata_gate_value",
		"metadata_ruleID":              "metadata_rule_id",
		"Signed Up":                    "signed_up",
		"SignedUp":                     "signed_up",
		"signed-up":                    "signed_up",
		"add_to_cart":                  "add_to_cart",
	}
	for in, want := range cases {
		if got := warehouse.Snake(in); got != want {
			t.Errorf("Snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTableNameRules(t *testing.T) {
	cases := map[string]string{
		"statsig::gate_exposure": "statsig_gate_exposure",
		"Experiment Viewed":      "experiment_viewed",
		"Tracks":                 "event_tracks",
		"users":                  "event_users",
		"identifies":             "event_identifies",
		"pages":                  "event_pages",
		"screens":                "event_screens",
		"groups":                 "event_groups",
		"aliases":                "event_aliases",
		"accounts":               "event_accounts",
		"2FA Enabled":            "_2fa_enabled",
	}
	for in, want := range cases {
		if got := warehouse.TableName(in); got != want {
			t.Errorf("TableName(%q) = %q, want %q", in, got, want)
		}
	}
	// Names with nothing left: a stable table per name, not one for all.
	a, b := warehouse.TableName("日本語"), warehouse.TableName("中文")
	if !strings.HasPrefix(a, "event_") || len(a) != len("event_")+8 || a == b || a != warehouse.TableName("日本語") {
		t.Errorf("empty snake case: %q %q", a, b)
	}
}

func TestIdentFitsPostgresWithoutCollisions(t *testing.T) {
	long := strings.Repeat("abcdefghij_", 8)[:80] // 80 bytes
	other := long[:70] + "zzzzzzzzzz"
	a, b := warehouse.Ident(long), warehouse.Ident(other)
	if len(a) > 63 || len(b) > 63 || a == b {
		t.Fatalf("Ident: %q (%d) %q (%d)", a, len(a), b, len(b))
	}
	if a != warehouse.Ident(long) {
		t.Error("Ident is not deterministic")
	}
	if !strings.HasPrefix(a, long[:40]) {
		t.Errorf("Ident(%q) = %q lost the name's start", long, a)
	}
	for _, s := range []string{a, b} {
		for _, c := range []byte(s) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
				t.Errorf("%q has %q", s, c)
			}
		}
	}
	if got := warehouse.Ident(strings.Repeat("x", 63)); got != strings.Repeat("x", 63) {
		t.Errorf("a 63-byte name changed: %q", got)
	}
}
