package mapping

import (
	"strings"
	"testing"
)

// TestEmailDropRefusesEmailAsIdentifier: "drop" promises the address never
// leaves the bridge; an identifier chain naming email would break that.
func TestEmailDropRefusesEmailAsIdentifier(t *testing.T) {
	errs := Options{Email: EmailDrop, UserID: []string{"userID", "email"}}.Validate()
	if len(errs) != 1 || !strings.Contains(errs[0], "email: hash") {
		t.Fatalf("Validate = %v, want one problem suggesting email: hash", errs)
	}
	if errs := (Options{Email: EmailHash, UserID: []string{"email"}}).Validate(); len(errs) != 0 {
		t.Fatalf("hash with email as identifier: %v", errs)
	}
}
