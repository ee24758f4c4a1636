package postgres

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// decoder writes raw column values into typed columns (queries.Table). The types that
// statistics views are made of (integers, floats, booleans, text, timestamps) are read from
// pgx's raw binary values directly, with no allocation per value: on a catalog of 10,000
// tables a scrape reads over a million values, and pgx's general decoding (a scan plan per
// value, a boxed value each) was a third of the exporter's CPU and most of its garbage.
// Every other type goes through pgx into a column of boxed values.
//
// Repeated short strings (datname, schemaname, state, ...) are shared: one string per
// distinct text of a column instead of one per row. A column whose values turn out to be
// mostly distinct (relname) stops being shared, which would cost more than it saves.
type decoder struct {
	types   *pgtype.Map
	fds     []pgconn.FieldDescription
	kinds   []queries.Kind
	interns []internTable
	table   *queries.Table
}

type internTable struct {
	values       map[string]string
	seen, misses int
	off          bool
}

// Interning limits: the longest string shared, and the sample after which a column with more
// than half distinct values stops.
const (
	internMax    = 64
	internSample = 32
)

func newDecoder(types *pgtype.Map, fds []pgconn.FieldDescription, capacity int) *decoder {
	d := &decoder{types: types, fds: fds, kinds: make([]queries.Kind, len(fds)), interns: make([]internTable, len(fds))}
	for i := range fds {
		d.kinds[i] = kindOf(&fds[i])
	}
	d.table = queries.NewTable(d.kinds, capacity)
	return d
}

// kindOf is the column kind a field decodes into.
func kindOf(fd *pgconn.FieldDescription) queries.Kind {
	switch fd.DataTypeOID {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return queries.KindString // the same bytes in text and binary format (pgx asks for text)
	}
	if fd.Format != pgtype.BinaryFormatCode {
		return queries.KindAny
	}
	switch fd.DataTypeOID {
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID, pgtype.OIDOID, pgtype.XIDOID:
		return queries.KindInt
	case pgtype.Float8OID, pgtype.Float4OID:
		return queries.KindFloat
	case pgtype.BoolOID:
		return queries.KindBool
	case pgtype.TimestamptzOID, pgtype.TimestampOID:
		return queries.KindTime
	}
	return queries.KindAny
}

// PostgreSQL's epoch for timestamps: 2000-01-01 UTC, in microseconds since the Unix epoch.
const pgEpochMicros = 946684800 * 1000000

// row appends one row of raw values.
func (d *decoder) row(raw [][]byte) error {
	t := d.table
	for j, src := range raw {
		if src == nil {
			t.Null(j)
			continue
		}
		fd := &d.fds[j]
		switch d.kinds[j] {
		case queries.KindString:
			t.String(j, d.text(j, src))
			continue
		case queries.KindInt:
			switch {
			case len(src) == 8:
				t.Int(j, int64(binary.BigEndian.Uint64(src)))
				continue
			case len(src) == 4 && (fd.DataTypeOID == pgtype.OIDOID || fd.DataTypeOID == pgtype.XIDOID):
				t.Int(j, int64(binary.BigEndian.Uint32(src)))
				continue
			case len(src) == 4:
				t.Int(j, int64(int32(binary.BigEndian.Uint32(src))))
				continue
			case len(src) == 2:
				t.Int(j, int64(int16(binary.BigEndian.Uint16(src))))
				continue
			}
		case queries.KindFloat:
			switch len(src) {
			case 8:
				t.Float(j, math.Float64frombits(binary.BigEndian.Uint64(src)))
				continue
			case 4:
				t.Float(j, float64(math.Float32frombits(binary.BigEndian.Uint32(src))))
				continue
			}
		case queries.KindBool:
			if len(src) == 1 {
				t.Int(j, int64(src[0]))
				continue
			}
		case queries.KindTime:
			if len(src) == 8 {
				us := int64(binary.BigEndian.Uint64(src))
				if us == math.MaxInt64 || us == math.MinInt64 { // infinity
					t.Null(j)
				} else {
					t.Int(j, us+pgEpochMicros)
				}
				continue
			}
		case queries.KindAny:
			v, err := d.decodeAny(fd, src)
			if err != nil {
				return err
			}
			t.Any(j, v)
			continue
		}
		return fmt.Errorf("column %s: %d bytes do not make a value of type %d", fd.Name, len(src), fd.DataTypeOID)
	}
	t.EndRow()
	return nil
}

// decodeAny decodes a value of another type through pgx.
func (d *decoder) decodeAny(fd *pgconn.FieldDescription, src []byte) (any, error) {
	t, ok := d.types.TypeForOID(fd.DataTypeOID)
	if !ok {
		// an unknown type: its text is the best we have
		if fd.Format == pgtype.TextFormatCode {
			return string(src), nil
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
func (d *decoder) text(col int, src []byte) string {
	t := &d.interns[col]
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
		t.values = map[string]string{}
	}
	s := string(src)
	t.values[s] = s
	return s
}
