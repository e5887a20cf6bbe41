package demo

import (
	"fmt"
	"math/rand/v2"
)

// event is one Statsig event before an SDK writes it down. Each SDK's
// writer (sdkjson.go) turns it into that SDK's wire shape.
type event struct {
	User *user
	Name string
	// Value is nil when the app set none, else a string or a float64.
	Value any
	// Metadata is a custom event's metadata (string, float64, int or bool
	// values), in the order the app wrote it.
	Metadata []field
	// Exposure is set for statsig::*_exposure events.
	Exposure *exposure
	// Diagnostics marks the SDK's statsig::diagnostics event.
	Diagnostics bool
	// Page is the browser page the event happened on (js-client).
	Page string
	// Time is the event's time in Unix ms.
	Time int64
}

// exposure is what an SDK knows about one evaluation it logs.
type exposure struct {
	Kind       string // "gate", "config" or "layer"
	Name       string // gate, config or layer name
	RuleID     string
	GateValue  bool
	RulePassed bool
	// Experiment is true for a config that is an experiment (the js-client
	// leaves rulePassed out for those).
	Experiment bool
	// Allocated, Param and Explicit describe a layer parameter: the
	// experiment it comes from ("" for an implicit parameter).
	Allocated string
	Param     string
	Explicit  bool
	Secondary []secondary
}

type secondary struct {
	Gate   string
	Value  bool
	RuleID string
}

// field is one member of an ordered JSON object.
type field struct {
	K string
	V any
}

type product struct {
	SKU, Name, Category string
	Price               float64
}

var products = []product{
	{"SKU-1001", "Trail running shoes", "shoes", 89.99},
	{"SKU-1002", "Merino wool socks", "apparel", 14.5},
	{"SKU-1003", "Rain jacket", "apparel", 129},
	{"SKU-1004", "Insulated bottle", "accessories", 24.99},
	{"SKU-1005", "Headlamp", "accessories", 39.95},
	{"SKU-1006", "Hiking backpack 28L", "bags", 109},
	{"SKU-1007", "Camping stove", "camping", 59.9},
	{"SKU-1008", "Sleeping bag", "camping", 149},
	{"SKU-1009", "Trekking poles", "accessories", 69},
	{"SKU-1010", "Sun hat", "apparel", 19.99},
}

// PoisonSKU marks the add_to_cart events the demo sink refuses with a 400,
// so that a dead letter shows up in the Delivery view.
const PoisonSKU = "SKU-REFUSED-BY-DEMO-SINK"

const shopURL = "https://shop.example.com"

var (
	referrers = []string{"https://www.google.com/", "https://news.example/outdoor-gear", "https://mail.example/newsletter", ""}
	searches  = []string{"rain jacket", "socks", "backpack", "stove", "headlamp", "poles"}
	payments  = []string{"card", "card", "card", "paypal", "apple_pay"}
)

// sessionWriter makes one visit's events: a page view, gates, the
// onboarding experiment for visitors, browsing and search, carts, the
// checkout experiment (or its layer) and sometimes an order.
type sessionWriter struct {
	rng *rand.Rand
	// poisonEvery: every poisonEvery-th add_to_cart carries PoisonSKU (0: never).
	poisonEvery int
	carts       int
	orders      int
}

// session returns the events of one visit by u through s, ending at now.
func (w *sessionWriter) session(u *user, s sdk, now int64) []event {
	rng := w.rng
	var evs []event
	page := shopURL + "/"
	add := func(e event) {
		e.User, e.Page = u, page
		evs = append(evs, e)
	}
	custom := func(name string, value any, md ...field) {
		add(event{Name: name, Value: value, Metadata: md})
	}
	gate := func(name string, r gateResult, sec ...secondary) {
		add(event{Name: "statsig::gate_exposure", Exposure: &exposure{Kind: "gate", Name: name, RuleID: r.RuleID, GateValue: r.Pass, Secondary: sec}})
	}
	if s == sdkJS {
		add(event{Name: "statsig::diagnostics", Diagnostics: true})
	}
	landing := field{"title", "Outdoor gear for every trail"}
	if ref := referrers[rng.IntN(len(referrers))]; ref != "" {
		custom("page_view", "/", landing, field{"referrer", ref})
	} else {
		custom("page_view", "/", landing)
	}
	gate(gateDarkMode, evalDarkMode(u))
	if u.Anonymous() || rng.IntN(100) < 25 {
		add(event{Name: "statsig::config_exposure", Exposure: &exposure{Kind: "config", Name: expOnboarding,
			RuleID: evalOnboarding(u), RulePassed: true, Experiment: true, Secondary: []secondary{}}})
	}
	if !u.Anonymous() {
		gate(gateFreeShipping, evalFreeShipping(u))
		rule, passed := evalPricing(u)
		add(event{Name: "statsig::config_exposure", Exposure: &exposure{Kind: "config", Name: configPricing, RuleID: rule, RulePassed: passed}})
	}
	var cart []product
	for range 1 + rng.IntN(4) {
		if rng.IntN(100) < 25 {
			q := searches[rng.IntN(len(searches))]
			page = shopURL + "/search"
			custom("search", q, field{"results", 3 + rng.IntN(40)})
		}
		p := products[rng.IntN(len(products))]
		page = shopURL + "/products/" + p.SKU
		custom("page_view", "/products/"+p.SKU, field{"title", p.Name}, field{"category", p.Category})
		if rng.IntN(100) < 45 {
			w.carts++
			sku := p.SKU
			if w.poisonEvery > 0 && w.carts%w.poisonEvery == 0 {
				sku = PoisonSKU
			}
			qty := 1 + rng.IntN(2)
			custom("add_to_cart", p.Price, field{"sku", sku}, field{"quantity", qty}, field{"category", p.Category}, field{"gift", rng.IntN(10) == 0})
			cart = append(cart, p)
		}
	}
	if len(cart) > 0 && u.Anonymous() {
		page = shopURL + "/login"
		custom("page_view", "/login", field{"title", "Sign in to check out"})
	}
	if len(cart) > 0 && !u.Anonymous() {
		gc := evalNewCheckout(u)
		sec := []secondary{{gateNewCheckout, gc.Pass, gc.RuleID}}
		gate(gateNewCheckout, gc)
		group := evalCheckoutExperiment(u)
		if s == sdkJS || rng.IntN(2) == 0 {
			// The app reads the layer's parameters: an explicit one from
			// the experiment, an implicit one from the layer itself.
			add(event{Name: "statsig::layer_exposure", Exposure: &exposure{Kind: "layer", Name: layerCheckout, RuleID: group,
				Allocated: expCheckout, Param: "button_color", Explicit: true, Secondary: sec}})
			add(event{Name: "statsig::layer_exposure", Exposure: &exposure{Kind: "layer", Name: layerCheckout, RuleID: group,
				Param: "show_banner", Secondary: []secondary{}}})
		} else {
			add(event{Name: "statsig::config_exposure", Exposure: &exposure{Kind: "config", Name: expCheckout, RuleID: group,
				RulePassed: true, Experiment: true, Secondary: sec}})
		}
		total := 0.0
		for _, p := range cart {
			total += p.Price
		}
		total = float64(int(total*100+0.5)) / 100
		currency := "USD"
		if _, euro := evalPricing(u); euro {
			currency = "EUR"
		}
		page = shopURL + "/checkout"
		custom("page_view", "/checkout", field{"title", "Checkout"})
		custom("checkout_started", total, field{"items", len(cart)}, field{"currency", currency})
		if rng.IntN(100) < 55 {
			w.orders++
			custom("checkout_completed", total, field{"order_id", fmt.Sprintf("ord_%06d", w.orders)}, field{"items", len(cart)},
				field{"currency", currency}, field{"payment_method", payments[rng.IntN(len(payments))]})
		}
	}
	if !u.Anonymous() && rng.IntN(100) < 5 {
		custom("logout", nil)
	}
	// Spread the visit over the last few seconds, in order.
	t := now
	for i := len(evs) - 1; i >= 0; i-- {
		evs[i].Time = t
		t -= 40 + int64(rng.IntN(900))
	}
	return evs
}
