package statsig

import "crypto/sha256"

// DeriveID returns a deterministic ID for a second message made from the
// event with the given ID (such as Segment's "Experiment Viewed" sent beside
// an exposure): UUID-shaped like the event IDs, different from id, and the
// same every time the event is delivered again, so Segment deduplicates it
// too. salt names the kind of derived message.
func DeriveID(id, salt string) string {
	sum := sha256.Sum256([]byte(id + "/" + salt))
	return uuidFromHash(sum[:])
}
