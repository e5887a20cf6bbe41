package warehouse

import wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"

// TrackRow and KeepMapped expose trackRow and keepMapped to FuzzTrackRow.
var (
	TrackRow   = trackRow
	KeepMapped = keepMapped
)

// ParsedRow is the row WriteParsed builds from an Encoded.Parsed, for
// TestParsedRowsMatchParseTrack: false when it would read the payload.
func ParsedRow(parsed any, payload []byte) (wh.Row, bool) {
	m, ok := parsed.(*mapped)
	if !ok {
		return wh.Row{}, false
	}
	return m.row(payload)
}

// AppendTimes exposes appendTimes to FuzzTrackRow's reference.
var AppendTimes = appendTimes

// SetLoadedKey replaces the loaded-events ledger's hash until the returned
// restore is called; tests that use it must not run in parallel.
func SetLoadedKey(f func(family, id string) int64) (restore func()) {
	old := loadedKey
	loadedKey = f
	return func() { loadedKey = old }
}
