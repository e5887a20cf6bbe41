package demo

import (
	_ "embed"
	"net/http"
	"strconv"
	"strings"
)

// ServerSecret is the server secret the demo's specs server answers to.
const ServerSecret = "demo-secret"

// specsJSON is the demo project's config specs in the v1
// download_config_specs shape the Go SDK fetches: three gates, a dynamic
// config, an experiment keyed on userID inside the layer checkout_layer, and
// one keyed on stableID on its own. The generator's rule IDs are these.
//
//go:embed specs.json
var specsJSON []byte

// specsTime is specsJSON's "time".
const specsTime = 1767225600000

// The demo project, as the generator evaluates it. Rule IDs and versions
// match specs.json (a test checks every ID the generator sends against it).
const (
	gateNewCheckout  = "new_checkout_flow"
	gateDarkMode     = "dark_mode_ui"
	gateFreeShipping = "free_shipping_banner"
	configPricing    = "pricing_config"
	expCheckout      = "checkout_button_experiment"
	expOnboarding    = "onboarding_flow_experiment"
	layerCheckout    = "checkout_layer"

	ruleDefault = "default"
)

// versions are the specs' "version" of each gate, config and layer.
var versions = map[string]int{
	gateNewCheckout: 4, gateDarkMode: 2, gateFreeShipping: 7,
	configPricing: 12, expCheckout: 3, expOnboarding: 6, layerCheckout: 2,
}

// specsHandler serves specs.json the way Statsig's specs API does for the
// Go SDK: GET /v1/download_config_specs/{secret}.json, has_updates false
// once the caller is up to date; POST /v1/get_id_lists answers no lists.
func specsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/download_config_specs/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.PathValue("file") != ServerSecret+".json" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"the demo's specs server knows only the server secret demo-secret"}`))
			return
		}
		if since, err := strconv.ParseInt(r.URL.Query().Get("sinceTime"), 10, 64); err == nil && since >= specsTime {
			w.Write([]byte(`{"has_updates":false,"time":` + strconv.FormatInt(specsTime, 10) + `}`))
			return
		}
		w.Write(specsJSON)
	})
	mux.HandleFunc("POST /v1/get_id_lists", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	})
	return mux
}

// bucket places id in one of 1000 buckets for salt, deterministically (the
// demo's stand-in for Statsig's sha256-based user_bucket).
func bucket(salt, id string) int {
	var h uint32 = 2166136261
	for _, s := range []string{salt, ".", id} {
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
	}
	return int(h % 1000)
}

// gateResult is one gate's outcome for a user.
type gateResult struct {
	Pass   bool
	RuleID string
}

func evalNewCheckout(u *user) gateResult {
	switch {
	case strings.HasSuffix(u.Email, "@acme.example"):
		return gateResult{true, "3aXnewCheckoutEmpl01"}
	case bucket("demo-rollout-salt", u.UserID) < 400:
		return gateResult{true, "3aXnewCheckoutRoll02"}
	}
	// The rollout rule matched (it is public) but the user is outside its 40%.
	return gateResult{false, "3aXnewCheckoutRoll02"}
}

func evalDarkMode(u *user) gateResult {
	return gateResult{bucket("demo-dark-mode-rule-salt", u.StableID) < 300, "6dMdarkModeRollout1"}
}

func evalFreeShipping(u *user) gateResult {
	if u.Country == "US" || u.Country == "CA" {
		return gateResult{true, "9fSfreeShipCountry1"}
	}
	return gateResult{false, ruleDefault}
}

// evalPricing returns the pricing config's rule and whether it passed.
func evalPricing(u *user) (string, bool) {
	switch u.Country {
	case "DE", "FR", "ES", "NL":
		return "4hTpricingEuroRule1", true
	}
	return ruleDefault, false
}

// evalCheckoutExperiment returns the user's group rule in the experiment
// (every user of the layer is allocated to it).
func evalCheckoutExperiment(u *user) string {
	if bucket("demo-checkout-button-salt", u.UserID) < 500 {
		return "5yQcheckoutBtnCtrl01"
	}
	return "5yQcheckoutBtnTest02"
}

func evalOnboarding(u *user) string {
	switch b := bucket("demo-onboarding-salt", u.StableID); {
	case b < 334:
		return "8kOonboardingCtrl01"
	case b < 667:
		return "8kOonboardingShort02"
	}
	return "8kOonboardingVideo03"
}
