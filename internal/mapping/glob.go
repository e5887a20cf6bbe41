package mapping

// match reports whether name matches a glob where * stands for any run of
// characters (":" and "/" included, unlike path.Match) and ? for one byte.
func match(pattern, name string) bool {
	px, nx := 0, 0
	nextPx, nextNx := 0, 0
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				nextPx, nextNx = px, nx+1
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if 0 < nextNx && nextNx <= len(name) {
			px, nx = nextPx, nextNx
			continue
		}
		return false
	}
	return true
}

// MatchAny reports whether name matches one of the globs, with the
// semantics of include/exclude: * is any run of characters (":" and "/"
// included), ? is one byte.
func MatchAny(patterns []string, name string) bool { return matchAny(patterns, name) }

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if match(p, name) {
			return true
		}
	}
	return false
}
