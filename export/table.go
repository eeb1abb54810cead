// Package export turns a sweep's results into flat tables for the tools
// researchers load results with (pandas, spreadsheets, DuckDB): one row per
// trial, and one per configuration with the report's aggregates. Each
// table is written as CSV, JSON Lines or Parquet. Column names are HF PEFT
// method_comparison's where the meaning is the same, otherwise the result
// file's own names with their path joined by underscores.
package export

import (
	"fmt"
	"math"
)

// Kind is a column's type.
type Kind int

const (
	String Kind = iota
	Int
	Float
	Bool
)

// Column is one named, typed column; a nil value is missing (an empty CSV
// cell, a JSON null, a Parquet null).
type Column struct {
	Name   string
	Kind   Kind
	Values []any // string, int64, float64 or bool by Kind, or nil
}

// Table is columns of equal length.
type Table struct {
	Name    string // "trials", "configurations": the file's base name
	Columns []*Column
	rows    int
}

// Rows is the number of rows.
func (t *Table) Rows() int { return t.rows }

// Column returns the column named name, nil when there is none.
func (t *Table) Column(name string) *Column {
	for _, c := range t.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// builder appends a table row by row; a column first set in a later row
// is missing in the rows before it.
type builder struct {
	t     *Table
	byKey map[string]*Column
}

func newBuilder(name string) *builder {
	return &builder{t: &Table{Name: name}, byKey: map[string]*Column{}}
}

// row starts a new row.
func (b *builder) row() {
	b.t.rows++
	for _, c := range b.t.Columns {
		c.Values = append(c.Values, nil)
	}
}

// set sets the current row's value of column name; v is normalised to the
// column's kind (NaN and infinities are missing).
func (b *builder) set(name string, k Kind, v any) {
	c, ok := b.byKey[name]
	if !ok {
		c = &Column{Name: name, Kind: k, Values: make([]any, b.t.rows)}
		b.byKey[name] = c
		b.t.Columns = append(b.t.Columns, c)
	}
	if c.Kind != k {
		panic(fmt.Sprintf("export: column %s set as two kinds", name))
	}
	c.Values[b.t.rows-1] = normalise(k, v)
}

func (b *builder) str(name, v string)           { b.set(name, String, v) }
func (b *builder) integer(name string, v int64) { b.set(name, Int, v) }
func (b *builder) float(name string, v float64) { b.set(name, Float, v) }
func (b *builder) boolean(name string, v bool)  { b.set(name, Bool, v) }

// optFloat sets a float column from a pointer, nil staying missing.
func (b *builder) optFloat(name string, v *float64) {
	if v == nil {
		b.set(name, Float, nil)
		return
	}
	b.float(name, *v)
}

func normalise(k Kind, v any) any {
	if v == nil {
		return nil
	}
	if k == Float {
		if f := v.(float64); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
	}
	return v
}

// done returns the table.
func (b *builder) done() *Table { return b.t }
