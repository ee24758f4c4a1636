package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// decoder turns raw column values into the few types queries.Rows holds. The types that
// statistics views are made of (integers, floats, booleans, text, timestamps) are read from
// pgx's raw binary values directly: on a catalog of 10,000 tables a scrape reads over a
// million values, and pgx's general decoding (a scan plan per value, an extra box to convert
// int32 to int64) was a third of the exporter's CPU. Every other type goes through pgx.
//
// Repeated short strings (datname, schemaname, state, ...) are shared: one string and one
// boxed value per distinct text of a column instead of one per row. A column whose values
// turn out to be mostly distinct (relname) stops being shared, which would cost more than it
// saves.
type decoder struct {
	types   *pgtype.Map
	columns []internTable
}

type internTable struct {
	values       map[string]any
	seen, misses int
	off          bool
}

// Interning limits: the longest string shared, and the sample after which a column with more
// than half distinct values stops.
const (
	internMax    = 64
	internSample = 32
)

func newDecoder(types *pgtype.Map, columns int) *decoder {
	return &decoder{types: types, columns: make([]internTable, columns)}
}

// PostgreSQL's epoch for timestamps: 2000-01-01 UTC, in microseconds since the Unix epoch.
const pgEpochMicros = 946684800 * 1000000

func (d *decoder) decode(col int, fd *pgconn.FieldDescription, src []byte) (any, error) {
	if src == nil {
		return nil, nil
	}
	switch fd.DataTypeOID {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		// the same bytes in text and binary format (pgx asks for text)
		return d.text(col, src), nil
	}
	if fd.Format == pgtype.BinaryFormatCode {
		switch fd.DataTypeOID {
		case pgtype.Int8OID:
			if len(src) == 8 {
				return int64(binary.BigEndian.Uint64(src)), nil
			}
		case pgtype.Int4OID:
			if len(src) == 4 {
				return int64(int32(binary.BigEndian.Uint32(src))), nil
			}
		case pgtype.Int2OID:
			if len(src) == 2 {
				return int64(int16(binary.BigEndian.Uint16(src))), nil
			}
		case pgtype.OIDOID, pgtype.XIDOID:
			if len(src) == 4 {
				return int64(binary.BigEndian.Uint32(src)), nil
			}
		case pgtype.Float8OID:
			if len(src) == 8 {
				return math.Float64frombits(binary.BigEndian.Uint64(src)), nil
			}
		case pgtype.Float4OID:
			if len(src) == 4 {
				return float64(math.Float32frombits(binary.BigEndian.Uint32(src))), nil
			}
		case pgtype.BoolOID:
			if len(src) == 1 {
				return src[0] != 0, nil
			}
		case pgtype.TimestamptzOID, pgtype.TimestampOID:
			if len(src) == 8 {
				us := int64(binary.BigEndian.Uint64(src))
				if us == math.MaxInt64 || us == math.MinInt64 { // infinity
					return nil, nil
				}
				return time.UnixMicro(us + pgEpochMicros).UTC(), nil
			}
		}
	}
	t, ok := d.types.TypeForOID(fd.DataTypeOID)
	if !ok {
		// an unknown type: its text is the best we have
		if fd.Format == pgtype.TextFormatCode {
			return d.text(col, src), nil
		}
		return nil, fmt.Errorf("column %s: no decoder for type %d", fd.Name, fd.DataTypeOID)
	}
	v, err := t.Codec.DecodeValue(d.types, fd.DataTypeOID, fd.Format, src)
	if err != nil {
		return nil, fmt.Errorf("column %s: %w", fd.Name, err)
	}
	return normalize(v), nil
}

// text returns src as a string, shared with earlier equal short strings of its column.
func (d *decoder) text(col int, src []byte) any {
	t := &d.columns[col]
	if t.off || len(src) > internMax {
		return string(src)
	}
	if v, ok := t.values[string(src)]; ok { // no allocation for the look-up
		return v
	}
	t.seen++
	t.misses++
	if t.seen >= internSample && t.misses*2 > t.seen {
		t.off, t.values = true, nil
		return string(src)
	}
	if t.values == nil {
		t.values = map[string]any{}
	}
	s := string(src)
	var v any = s
	t.values[s] = v
	return v
}
