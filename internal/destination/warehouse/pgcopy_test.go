package warehouse

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// FuzzCopyValue holds the binary COPY writer to pgx's encoder (what
// CopyFrom sends): for each column type and a value of it, and NULL, the
// field's bytes (length and data) are the same.
func FuzzCopyValue(f *testing.F) {
	f.Add("", int64(0), 0.0, false, int64(0), int64(0))
	f.Add("héllo\x00\xff", int64(math.MinInt64), math.Inf(-1), true, int64(-62135596800), int64(999_999_999))
	f.Add("x", int64(math.MaxInt64), math.NaN(), false, int64(253402300799), int64(1))
	f.Add("y", int64(-1), math.Copysign(0, -1), true, int64(946684799), int64(999_999))
	f.Add("z", int64(42), 1e308, false, int64(1795541030), int64(123_456_789))
	m := pgtype.NewMap()
	f.Fuzz(func(t *testing.T, s string, i int64, fl float64, b bool, sec, nsec int64) {
		// Times the warehouse stores: years 0–9999 (wh.Convert and the
		// message's times stay in them), any sub-second part.
		sec = sec % 253402300800
		ts := time.Unix(sec, nsec%1e9).UTC()
		cases := []struct {
			typ pgBinary
			oid uint32
			v   any
		}{
			{pgText, pgtype.TextOID, s},
			{pgBool, pgtype.BoolOID, b},
			{pgInt8, pgtype.Int8OID, i},
			{pgFloat8, pgtype.Float8OID, fl},
			{pgTimestamptz, pgtype.TimestamptzOID, ts},
			{pgText, pgtype.TextOID, nil},
			{pgTimestamptz, pgtype.TimestamptzOID, nil},
		}
		for _, c := range cases {
			got, err := appendCopyRow(nil, []any{c.v}, []pgBinary{c.typ})
			if err != nil {
				t.Fatalf("%T %v: %v", c.v, c.v, err)
			}
			want := binary.BigEndian.AppendUint16(nil, 1)
			if c.v == nil {
				want = binary.BigEndian.AppendUint32(want, 0xffffffff)
			} else {
				data, err := m.Encode(c.oid, pgtype.BinaryFormatCode, c.v, nil)
				if err != nil {
					t.Fatalf("pgx: %T %v: %v", c.v, c.v, err)
				}
				want = binary.BigEndian.AppendUint32(want, uint32(len(data)))
				want = append(want, data...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%T %v (type %d):\n got  %x\nwant %x", c.v, c.v, c.typ, got, want)
			}
		}
		// A value of another type than its column's is refused (pgx is
		// used instead), never written.
		if _, err := appendCopyRow(nil, []any{s}, []pgBinary{pgInt8}); err == nil {
			t.Fatal("a string accepted for a bigint column")
		}
	})
}
