package warehouse_test

import (
	"slices"
	"testing"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/warehouse"
)

func TestParseTrackFlattens(t *testing.T) {
	msg := `{"type":"track","event":"statsig::gate_exposure","userId":"u1","anonymousId":"stable-9","messageId":"m1",
		"timestamp":"2025-01-02T03:04:05.000Z","originalTimestamp":"2025-01-02T03:04:04.000Z",
		"properties":{"value":"true","metadata":{"gate":"new_nav","gateValue":"true","ruleID":"abc"},
			"accountType":"pro","product_id":{"sku":"G-32"},"tags":["a", "b"],"n":null,"empty":{},
			"event":"x","user_id":"y","context":{"z":1},"count":3,"price":1.5,"ok":true,
			"at":"2025-01-02T03:04:05Z","esc":"a\"b\u00e9"},
		"context":{"library":{"name":"statsig-bridge","version":"1.0.0"},"userAgent":"UA","app":{"version":"2"}},
		"integrations":{"All":true},"receivedAt":"2025-01-02T03:04:06.000Z","sentAt":"2025-01-02T03:04:05.500Z"}`
	r, err := warehouse.ParseTrack([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "m1" || r.UserID != "u1" || r.AnonymousID != "stable-9" || r.EventText != "statsig::gate_exposure" ||
		r.Table != "statsig_gate_exposure" || !r.ReceivedAt.Equal(time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC)) ||
		!r.SentAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 5e8, time.UTC)) {
		t.Errorf("standard fields: %+v", r)
	}
	got := map[string]warehouse.Value{}
	var order []string
	for _, f := range r.Properties {
		got[f.Column] = f.Value
		order = append(order, f.Column)
	}
	want := map[string]warehouse.Value{
		"value":               {Kind: warehouse.String, S: "true"},
		"metadata_gate":       {Kind: warehouse.String, S: "new_nav"},
		"metadata_gate_value": {Kind: warehouse.String, S: "true"},
		"metadata_rule_id":    {Kind: warehouse.String, S: "abc"},
		"account_type":        {Kind: warehouse.String, S: "pro"},
		"product_id_sku":      {Kind: warehouse.String, S: "G-32"},
		"tags":                {Kind: warehouse.Array, S: `["a","b"]`},
		"count":               {Kind: warehouse.Number, S: "3"},
		"price":               {Kind: warehouse.Number, S: "1.5"},
		"ok":                  {Kind: warehouse.Boolean, B: true},
		"at":                  {Kind: warehouse.String, S: "2025-01-02T03:04:05Z"},
		"esc":                 {Kind: warehouse.String, S: "a\"bé"},
	}
	if len(got) != len(want) {
		t.Errorf("properties %v, want %v", order, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %+v, want %+v", k, got[k], v)
		}
	}
	if !slices.Equal(r.Dropped, []string{"event", "user_id", "context_z"}) {
		t.Errorf("dropped %q, want event, user_id, context_z", r.Dropped)
	}
	var ctx []string
	for _, f := range r.Context {
		ctx = append(ctx, f.Column)
	}
	if !slices.Equal(ctx, []string{"context_library_name", "context_library_version", "context_user_agent", "context_app_version"}) {
		t.Errorf("context columns %q", ctx)
	}
	for _, bad := range []string{`{"messageId":"m","properties":[1]}`, `{"event":"e"}`, `{"messageId":"m"`, `{"messageId":"m","timestamp":"yesterday"}`} {
		if _, err := warehouse.ParseTrack([]byte(bad)); err == nil {
			t.Errorf("ParseTrack(%s) accepted", bad)
		}
	}
}

func TestInferAndConvert(t *testing.T) {
	str := func(s string) warehouse.Value { return warehouse.Value{Kind: warehouse.String, S: s} }
	num := func(s string) warehouse.Value { return warehouse.Value{Kind: warehouse.Number, S: s} }
	for v, want := range map[warehouse.Value]warehouse.Type{
		{Kind: warehouse.Boolean}: warehouse.Bool, num("42"): warehouse.Int, num("-7"): warehouse.Int, num("12.0"): warehouse.Float,
		num("1e3"): warehouse.Float, num("99999999999999999999"): warehouse.Float, str("2025-01-02T03:04:05.123+02:00"): warehouse.Timestamp,
		str("2025-01-02"): warehouse.Text, str("true"): warehouse.Text, str("29.99"): warehouse.Text,
		{Kind: warehouse.Array, S: "[]"}: warehouse.Text,
	} {
		if got := warehouse.Infer(v); got != want {
			t.Errorf("Infer(%+v) = %v, want %v", v, got, want)
		}
	}
	type conv struct {
		v  warehouse.Value
		t  warehouse.Type
		ok bool
		to any
	}
	for _, c := range []conv{
		{str("abc"), warehouse.Int, false, nil},
		{str("42"), warehouse.Int, true, int64(42)},
		{num("1.5"), warehouse.Int, true, int64(2)},
		{str("29.99"), warehouse.Float, true, 29.99},
		{str("x"), warehouse.Float, false, nil},
		{str("true"), warehouse.Bool, true, true},
		{str("yes"), warehouse.Bool, false, nil},
		{num("7"), warehouse.Text, true, "7"},
		{warehouse.Value{Kind: warehouse.Boolean, B: true}, warehouse.Text, true, "true"},
		{str("2025-01-02T03:04:05+02:00"), warehouse.Timestamp, true, time.Date(2025, 1, 2, 1, 4, 5, 0, time.UTC)},
		{num("1700000000"), warehouse.Timestamp, false, nil},
	} {
		got, ok := warehouse.Convert(c.v, c.t)
		if ok != c.ok || got != c.to {
			t.Errorf("Convert(%+v, %v) = %v %v, want %v %v", c.v, c.t, got, ok, c.to, c.ok)
		}
	}
}

func TestTruncateCountsCharacters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
		cut  bool
	}{
		{"abc", 5, "abc", false},
		{"abcde", 5, "abcde", false},
		{"abcdef", 5, "abcde", true},
		{"ééééé", 5, "ééééé", false}, // 10 bytes, 5 characters
		{"éééééé", 5, "ééééé", true},
		{"a😀b😀c", 3, "a😀b", true},
	} {
		got, cut := warehouse.Truncate(tc.in, tc.n)
		if got != tc.want || cut != tc.cut {
			t.Errorf("Truncate(%q, %d) = %q, %v; want %q, %v", tc.in, tc.n, got, cut, tc.want, tc.cut)
		}
	}
}
