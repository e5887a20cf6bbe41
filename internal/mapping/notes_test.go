package mapping

import "testing"

// TestNotesAreTyped: every note has its own text, the set prints them in
// order, and only the notes about missing config specs count as
// unresolved: the metric depends on the type, not on the wording.
func TestNotesAreTyped(t *testing.T) {
	seen := map[string]bool{}
	for n := Notes(1); n < noteEnd; n <<= 1 {
		text := n.String()
		if text == "" || seen[text] {
			t.Errorf("note %d has text %q (empty or repeated)", n, text)
		}
		seen[text] = true
		want := n == NoteNoSpecs || n == NoteNoSpecsGroupUnknown || n == NoteUnresolvedNoSpec
		if n.Unresolved() != want {
			t.Errorf("%q: Unresolved() = %v, want %v", text, n.Unresolved(), want)
		}
	}
	if got := (NoteNoSpecs | NoteNoVariation).String(); got != NoteNoSpecs.String()+"; "+NoteNoVariation.String() {
		t.Errorf("two notes print as %q", got)
	}
	if Notes(0).String() != "" || Notes(0).Unresolved() {
		t.Error("no note prints or counts")
	}
}
