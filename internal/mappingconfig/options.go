// Package mappingconfig holds a destination's filter and mapping options as
// configured, with their one set of defaults and their validation. It
// imports only the Statsig wire format (for event kinds), so the
// configuration can hold these options without the mapping code, as
// delivery and logconfig do for delivery and the log.
package mappingconfig

import (
	"fmt"
	"strings"
	"time"

	"github.com/statsig-bridge/statsig-bridge/internal/statsig"
)

// Options is one destination's filter and mapping, as configured.
type Options struct {
	// Types are the event kinds sent; empty means DefaultTypes.
	Types []statsig.Kind `yaml:"types" json:"types"`
	// Include lists event-name globs to send (* and ?); empty means all.
	Include []string `yaml:"include" json:"include,omitempty"`
	// Exclude lists event-name globs never sent; it wins over Include.
	Exclude []string `yaml:"exclude" json:"exclude,omitempty"`
	// UserID is the ordered list of sources for Segment's userId: the first
	// non-empty one wins. Sources: userID, stableID, email, customIDs.<name>.
	UserID []string `yaml:"user_id" json:"user_id"`
	// AnonymousID is the ordered list of sources for anonymousId.
	AnonymousID []string `yaml:"anonymous_id" json:"anonymous_id"`
	// Email says what happens to user.email: "trait" (context.traits.email),
	// "hash" (SHA-256 hex of the trimmed, lower-cased address) or "drop".
	Email string `yaml:"email" json:"email"`
	// IPAndUserAgent copies the Statsig user's ip and userAgent into
	// context.ip and context.userAgent (personal data: off by default).
	IPAndUserAgent bool `yaml:"ip_and_user_agent" json:"ip_and_user_agent"`
	// UserTraits copies country, locale, appVersion and custom into
	// context.traits.
	UserTraits bool `yaml:"user_traits" json:"user_traits"`
	// SecondaryExposures adds the exposure's secondaryExposures (the gates
	// evaluated on the way) as properties.secondaryExposures.
	SecondaryExposures bool `yaml:"secondary_exposures" json:"secondary_exposures"`
	// Experiments are config-name globs treated as experiments when the
	// project's config specs are not available (no STATSIG_SERVER_SECRET).
	Experiments []string `yaml:"experiments" json:"experiments,omitempty"`
	// ExperimentViewed sends Segment's A/B spec event "Experiment Viewed"
	// for every experiment exposure whose group is known: "off" (default),
	// "alongside" the statsig::experiment_exposure Track, or "instead" of
	// it. See abspec.go.
	ExperimentViewed string `yaml:"experiment_viewed" json:"experiment_viewed"`
	// Environments are the Statsig environment tiers sent (the user's
	// statsigEnvironment.tier; an event without one is "production", as
	// Statsig reads it); empty means all. The rest are filtered with
	// reason "environment", so production can go to one Segment source
	// and staging to another.
	Environments []string `yaml:"environments" json:"environments,omitempty"`
	// DedupeExposures sends only the first exposure per unit × entity ×
	// outcome within this window (0: off). The state is a key-value bucket
	// in the log, shared by every bridge process; see the runner's dedupe.
	DedupeExposures Window `yaml:"dedupe_exposures" json:"dedupe_exposures"`
	// Identify sends a Segment identify when a user is first seen and when
	// their traits change: "off" (default) or "on_change".
	Identify string `yaml:"identify" json:"identify"`
	// IdentifyHorizon is how long the bridge remembers the traits it sent
	// for a user (0: the default, 90 days): a user unseen for longer gets
	// one identify again when next seen.
	IdentifyHorizon Window `yaml:"identify_horizon" json:"identify_horizon"`
}

// DefaultTypes are the kinds sent when a destination names none: every user
// event, but neither SDK bookkeeping nor config-change notices.
var DefaultTypes = []statsig.Kind{statsig.KindGate, statsig.KindConfig, statsig.KindExperiment, statsig.KindLayer, statsig.KindCustom}

// Email modes.
const (
	EmailTrait = "trait"
	EmailHash  = "hash"
	EmailDrop  = "drop"
)

// ExperimentViewed modes.
const (
	ExperimentViewedOff       = "off"
	ExperimentViewedAlongside = "alongside"
	ExperimentViewedInstead   = "instead"
)

// Identify modes.
const (
	IdentifyOff      = "off"
	IdentifyOnChange = "on_change"
)

// DefaultIdentifyHorizon is how long identify state is kept by default.
const DefaultIdentifyHorizon = Window(90 * 24 * time.Hour)

// WithDefaults returns o with empty fields set to their documented defaults.
func (o Options) WithDefaults() Options {
	if len(o.Types) == 0 {
		o.Types = append([]statsig.Kind(nil), DefaultTypes...)
	}
	if len(o.UserID) == 0 {
		o.UserID = []string{"userID"}
	}
	if len(o.AnonymousID) == 0 {
		o.AnonymousID = []string{"stableID"}
	}
	if o.Email == "" {
		o.Email = EmailTrait
	}
	if o.ExperimentViewed == "" {
		o.ExperimentViewed = ExperimentViewedOff
	}
	if o.Identify == "" {
		o.Identify = IdentifyOff
	}
	if o.IdentifyHorizon == 0 {
		o.IdentifyHorizon = DefaultIdentifyHorizon
	}
	return o
}

// Validate returns every problem, each as "field: reason".
func (o Options) Validate() []string {
	var errs []string
	for _, t := range o.Types {
		if !validKind(t) {
			errs = append(errs, fmt.Sprintf("types: unknown event type %q (one of %s)", t, kindList()))
		}
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"user_id", o.UserID}, {"anonymous_id", o.AnonymousID}} {
		for _, s := range f.list {
			if !validSource(s) {
				errs = append(errs, fmt.Sprintf("%s: unknown identifier source %q (userID, stableID, email or customIDs.<name>)", f.name, s))
			}
		}
	}
	switch o.Email {
	case "", EmailTrait, EmailHash:
	case EmailDrop:
		for _, s := range append(append([]string{}, o.UserID...), o.AnonymousID...) {
			if s == "email" {
				errs = append(errs, `email: "drop" keeps the address out of traits, but "email" is also an identifier source (user_id/anonymous_id), which would send it anyway; use email: hash`)
				break
			}
		}
	default:
		errs = append(errs, fmt.Sprintf("email: unknown mode %q (trait, hash or drop)", o.Email))
	}
	switch o.ExperimentViewed {
	case "", ExperimentViewedOff, ExperimentViewedAlongside, ExperimentViewedInstead:
	default:
		errs = append(errs, fmt.Sprintf("experiment_viewed: unknown mode %q (off, alongside or instead)", o.ExperimentViewed))
	}
	for _, env := range o.Environments {
		if strings.TrimSpace(env) == "" {
			errs = append(errs, "environments: an empty tier (list tiers such as production, staging, development)")
		}
	}
	if p := o.DedupeExposures.problem(); p != "" {
		errs = append(errs, "dedupe_exposures: "+p+" (0 turns it off)")
	}
	switch o.Identify {
	case "", IdentifyOff, IdentifyOnChange:
	default:
		errs = append(errs, fmt.Sprintf("identify: unknown mode %q (off or on_change)", o.Identify))
	}
	if p := o.IdentifyHorizon.problem(); p != "" {
		errs = append(errs, "identify_horizon: "+p)
	}
	return errs
}

func validKind(k statsig.Kind) bool {
	for _, v := range statsig.Kinds {
		if v == k {
			return true
		}
	}
	return false
}

func kindList() string {
	s := make([]string, len(statsig.Kinds))
	for i, k := range statsig.Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func validSource(s string) bool {
	switch s {
	case "userID", "stableID", "email":
		return true
	}
	name, ok := strings.CutPrefix(s, "customIDs.")
	return ok && name != ""
}
