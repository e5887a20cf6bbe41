package server

import (
	"crypto/sha256"
	"crypto/subtle"
)

// digestCompare is subtle.ConstantTimeCompare. It is a variable only so
// that a test can see every key comparison go through it (keys_test.go).
var digestCompare = subtle.ConstantTimeCompare

// keyMatches reports whether key is one of the configured keys, given as
// their SHA-256 digests. It compares digests, which all have the same
// length, in constant time, and always against every key: how long the
// answer takes tells nothing about how much of a guess was right, nor about
// the keys' lengths, nor which key matched.
func keyMatches(key string, digests [][32]byte) bool {
	sum := sha256.Sum256([]byte(key))
	ok := 0
	for i := range digests {
		ok |= digestCompare(sum[:], digests[i][:])
	}
	return ok == 1
}
