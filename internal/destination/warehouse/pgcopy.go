package warehouse

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// pgBinary is how the binary COPY writes a column: one of the catalogue
// types the warehouse creates. A column a user changed to any other type
// (integer, numeric, varchar(n), timestamp without time zone, …) has none,
// and its table's batches go through pgx's CopyFrom, which asks the
// server for each column's type.
type pgBinary uint8

const (
	pgNone pgBinary = iota
	pgText
	pgBool
	pgInt8
	pgFloat8
	pgTimestamptz
)

// pgBinaryOf is the binary encoding of a catalogue type
// (information_schema.columns.data_type).
func pgBinaryOf(dataType string) pgBinary {
	switch dataType {
	case "text":
		return pgText
	case "boolean":
		return pgBool
	case "bigint":
		return pgInt8
	case "double precision":
		return pgFloat8
	case "timestamp with time zone":
		return pgTimestamptz
	}
	return pgNone
}

// microsecFromUnixEpochToY2K: binary timestamps count microseconds from
// 2000-01-01 UTC.
const microsecFromUnixEpochToY2K = 946_684_800 * 1_000_000

// appendCopyHeader starts a binary COPY stream: signature, flags, no
// header extension.
func appendCopyHeader(b []byte) []byte {
	b = append(b, "PGCOPY\n\377\r\n\000"...)
	return binary.BigEndian.AppendUint64(b, 0)
}

// appendCopyTrailer ends a binary COPY stream.
func appendCopyTrailer(b []byte) []byte { return binary.BigEndian.AppendUint16(b, 0xffff) }

// appendCopyRow appends one tuple: the bytes pgx's CopyFrom writes for
// these values (FuzzCopyValue compares them value by value with pgx's
// encoder), without its per-value plan lookups, which were ≈ 10 % of the
// bridge's CPU on a Postgres load. The values are those rowsOf makes: nil,
// string, bool, int64, float64 and time.Time, each in a column of its type
// (wh.Convert); anything else is an error and the caller uses pgx.
func appendCopyRow(b []byte, row []any, types []pgBinary) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, uint16(len(row)))
	for i, v := range row {
		if v == nil {
			b = binary.BigEndian.AppendUint32(b, 0xffffffff)
			continue
		}
		ok := false
		switch types[i] {
		case pgText:
			var s string
			if s, ok = v.(string); ok {
				b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
				b = append(b, s...)
			}
		case pgBool:
			var x bool
			if x, ok = v.(bool); ok {
				b = binary.BigEndian.AppendUint32(b, 1)
				if x {
					b = append(b, 1)
				} else {
					b = append(b, 0)
				}
			}
		case pgInt8:
			var x int64
			if x, ok = v.(int64); ok {
				b = binary.BigEndian.AppendUint32(b, 8)
				b = binary.BigEndian.AppendUint64(b, uint64(x))
			}
		case pgFloat8:
			var x float64
			if x, ok = v.(float64); ok {
				b = binary.BigEndian.AppendUint32(b, 8)
				b = binary.BigEndian.AppendUint64(b, math.Float64bits(x))
			}
		case pgTimestamptz:
			var t time.Time
			if t, ok = v.(time.Time); ok {
				b = binary.BigEndian.AppendUint32(b, 8)
				b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()*1_000_000+int64(t.Nanosecond())/1000-microsecFromUnixEpochToY2K))
			}
		}
		if !ok {
			return nil, fmt.Errorf("column %d: a %T for a column of binary type %d", i, v, types[i])
		}
	}
	return b, nil
}
