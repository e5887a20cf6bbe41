package warehouse

import wh "github.com/statsig-bridge/statsig-bridge/internal/warehouse"

// TrackRow exposes trackRow to FuzzTrackRow.
var TrackRow = trackRow

// ParsedRow is the row WriteParsed builds from an Encoded.Parsed, for
// TestParsedRowsMatchParseTrack: false when it would read the payload.
func ParsedRow(parsed any) (wh.Row, bool) {
	m, ok := parsed.(*mapped)
	if !ok {
		return wh.Row{}, false
	}
	return m.row()
}

// AppendTimes exposes appendTimes to FuzzTrackRow's reference.
var AppendTimes = appendTimes
