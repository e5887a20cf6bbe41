package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// sdk is the Statsig SDK a session's events travel through.
type sdk int

const (
	sdkGo     sdk = iota // Go server SDK v1.35.1: gzip, string values
	sdkJS                // @statsig/js-client 3.33.5: /v1/rgstr, k= and gz=1
	sdkNodeJS            // @statsig/statsig-node-core 0.23.2: zstd
)

// user is one member of the demo's population.
type user struct {
	// UserID, Email, Country, Locale, CompanyID are empty for visitors
	// known only by their device's stableID.
	UserID    string
	Email     string
	Country   string
	Locale    string
	CompanyID string
	Plan      string
	Seats     int
	// StableID is the device's ID (the js-client's persisted stableID).
	StableID string
	// SDK is the SDK the user's visits go through: visitors mostly come
	// through the browser, signed-in users through all three.
	SDK sdk
}

// Anonymous reports whether the user is known by stableID only.
func (u *user) Anonymous() bool { return u.UserID == "" }

var (
	firstNames = []string{"ada", "ben", "chloe", "dario", "emma", "farid", "greta", "hiro", "ines", "jonas",
		"kemal", "lena", "mateo", "nora", "oskar", "priya", "quinn", "rosa", "sven", "tomas", "uma", "vera",
		"wei", "ximena", "yusuf", "zoe"}
	lastNames = []string{"novak", "schmidt", "garcia", "tanaka", "dubois", "silva", "kowalski", "rossi",
		"jensen", "okafor", "murphy", "ivanova", "haddad", "lindqvist", "costa", "brown"}
	mailDomains = []string{"example.com", "example.org", "mail.example", "inbox.example"}
	companies   = []string{"globex", "initech", "umbrella-corp", "hooli", "vandelay", "stark-industries", "wayne-ent"}
	// countries with their share of users (percent) and locale.
	countries = []struct {
		Code, Locale string
		Weight       int
	}{
		{"US", "en_US", 30}, {"DE", "de_DE", 14}, {"GB", "en_GB", 10}, {"FR", "fr_FR", 8}, {"IN", "en_IN", 8},
		{"BR", "pt_BR", 7}, {"CA", "en_CA", 6}, {"JP", "ja_JP", 6}, {"NL", "nl_NL", 6}, {"ES", "es_ES", 5},
	}
	plans = []string{"free", "free", "free", "pro", "pro", "enterprise"}
)

// population returns n users, the same ones for the same seed: about 30%
// known only by a stableID, the others with a userID, most with an email
// (a few @acme.example employees), a country and a plan, some with a
// companyID.
func population(rng *rand.Rand, n int) []user {
	users := make([]user, n)
	for i := range users {
		u := &users[i]
		u.StableID = uuid(rng)
		if rng.IntN(100) < 30 {
			u.SDK = sdkGo
			if rng.IntN(100) < 80 {
				u.SDK = sdkJS
			}
			continue
		}
		switch r := rng.IntN(100); {
		case r < 45:
			u.SDK = sdkJS
		case r < 80:
			u.SDK = sdkGo
		default:
			u.SDK = sdkNodeJS
		}
		u.UserID = fmt.Sprintf("user-%04d", i+1)
		c := pickCountry(rng)
		u.Country, u.Locale = c.Code, c.Locale
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		switch r := rng.IntN(100); {
		case r < 5:
			u.Email = first + "." + last + "@acme.example"
		case r < 70:
			u.Email = fmt.Sprintf("%s.%s%d@%s", first, last, rng.IntN(100), mailDomains[rng.IntN(len(mailDomains))])
		}
		u.Plan = plans[rng.IntN(len(plans))]
		if u.Plan != "free" && rng.IntN(100) < 60 {
			u.CompanyID = companies[rng.IntN(len(companies))]
			u.Seats = 2 + rng.IntN(200)
		}
	}
	return users
}

func pickCountry(rng *rand.Rand) struct {
	Code, Locale string
	Weight       int
} {
	r := rng.IntN(100)
	for _, c := range countries {
		if r < c.Weight {
			return c
		}
		r -= c.Weight
	}
	return countries[0]
}

// uuid returns a random version-4-shaped UUID drawn from rng.
func uuid(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b[:])
	return strings.Join([]string{h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]}, "-")
}
