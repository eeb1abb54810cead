package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// Formats are the file formats Write knows, by the name --format takes,
// each with its file extension.
var Formats = map[string]string{"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}

// Encode writes t in format ("csv", "jsonl" or "parquet").
func (t *Table) Encode(format string) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	switch format {
	case "csv":
		err = t.WriteCSV(&buf)
	case "jsonl":
		err = t.WriteJSONL(&buf)
	case "parquet":
		err = t.WriteParquet(&buf)
	default:
		return nil, fmt.Errorf("export: unknown format %q (csv, jsonl or parquet)", format)
	}
	return buf.Bytes(), err
}

// WriteCSV writes a header of column names, then one line per row; a
// missing value is an empty cell, floats in their shortest exact form.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		head[i] = c.Name
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	line := make([]string, len(t.Columns))
	for r := range t.rows {
		for i, c := range t.Columns {
			line[i] = cell(c.Values[r])
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// WriteJSONL writes one JSON object per row, keys in column order, a
// missing value as null.
func (t *Table) WriteJSONL(w io.Writer) error {
	var line bytes.Buffer
	for r := range t.rows {
		line.Reset()
		line.WriteByte('{')
		for i, c := range t.Columns {
			if i > 0 {
				line.WriteByte(',')
			}
			k, _ := json.Marshal(c.Name)
			v, err := json.Marshal(c.Values[r])
			if err != nil {
				return fmt.Errorf("export: %s: %w", c.Name, err)
			}
			line.Write(k)
			line.WriteByte(':')
			line.Write(v)
		}
		line.WriteString("}\n")
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// WriteParquet writes t as one Parquet file (parquet-go): every column
// optional, of its kind (UTF-8 string, int64, double, boolean), in column
// order. The schema is a struct type built for the table, since
// parquet-go keeps a struct's field order (a group's it sorts).
func (t *Table) WriteParquet(w io.Writer) error {
	fields := make([]reflect.StructField, len(t.Columns))
	for i, c := range t.Columns {
		var typ reflect.Type
		switch c.Kind {
		case String:
			typ = reflect.TypeFor[*string]()
		case Int:
			typ = reflect.TypeFor[*int64]()
		case Float:
			typ = reflect.TypeFor[*float64]()
		case Bool:
			typ = reflect.TypeFor[*bool]()
		}
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: typ,
			Tag: reflect.StructTag(fmt.Sprintf(`parquet:%q`, c.Name+",optional"))}
	}
	rowType := reflect.StructOf(fields)
	pw := parquet.NewWriter(w, parquet.SchemaOf(reflect.New(rowType).Elem().Interface()))
	for r := range t.rows {
		row := reflect.New(rowType).Elem()
		for i, c := range t.Columns {
			v := c.Values[r]
			if v == nil {
				continue
			}
			p := reflect.New(fields[i].Type.Elem())
			p.Elem().Set(reflect.ValueOf(v))
			row.Field(i).Set(p)
		}
		if err := pw.Write(row.Interface()); err != nil {
			return fmt.Errorf("export: parquet row %d: %w", r, err)
		}
	}
	return pw.Close()
}
