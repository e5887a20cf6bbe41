package warehouse

// TrackRow exposes trackRow to FuzzTrackRow.
var TrackRow = trackRow

// AppendTimes exposes appendTimes to FuzzTrackRow's reference.
var AppendTimes = appendTimes
