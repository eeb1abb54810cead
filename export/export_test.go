package export

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/peftbench/peftbench/trial"
)

func fixture(t *testing.T) []*trial.Result {
	t.Helper()
	rs, err := trial.ReadAll("../reports/testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 20 {
		t.Fatalf("fixture has %d results", len(rs))
	}
	return rs
}

// value returns column name's value in row r, failing when there is no
// such column.
func value(t *testing.T, tab *Table, name string, r int) any {
	t.Helper()
	c := tab.Column(name)
	if c == nil {
		t.Fatalf("%s: no column %s", tab.Name, name)
	}
	return c.Values[r]
}

func TestTrialsHoldTheResults(t *testing.T) {
	rs := fixture(t)
	tab := Trials(rs)
	if tab.Rows() != len(rs) {
		t.Fatalf("%d rows for %d results", tab.Rows(), len(rs))
	}
	seen := map[string]bool{}
	for _, c := range tab.Columns {
		if seen[c.Name] {
			t.Errorf("column %s twice", c.Name)
		}
		seen[c.Name] = true
		if len(c.Values) != tab.Rows() {
			t.Errorf("column %s has %d values for %d rows", c.Name, len(c.Values), tab.Rows())
		}
	}
	failed := 0
	for i, r := range rs {
		if value(t, tab, "id", i) != r.ID || value(t, tab, "peft_type", i) != r.Spec.Method || value(t, tab, "task_name", i) != r.Spec.Task {
			t.Errorf("row %d does not name result %s", i, r.ID)
		}
		if got := value(t, tab, "test_accuracy", i); got != r.Metrics.TestAccuracy {
			t.Errorf("%s: test_accuracy %v, result %v", r.ID, got, r.Metrics.TestAccuracy)
		}
		if got := value(t, tab, "peak_memory_bytes", i); got != r.PeakMemoryBytes {
			t.Errorf("%s: peak_memory_bytes %v, result %v", r.ID, got, r.PeakMemoryBytes)
		}
		if got := value(t, tab, "seed", i); got != int64(r.Spec.Seed) {
			t.Errorf("%s: seed %v, result %d", r.ID, got, r.Spec.Seed)
		}
		v := value(t, tab, "valid_accuracy", i)
		if (r.Metrics.ValidAccuracy == nil) != (v == nil) || (v != nil && v != *r.Metrics.ValidAccuracy) {
			t.Errorf("%s: valid_accuracy %v, result %v", r.ID, v, r.Metrics.ValidAccuracy)
		}
		rank := value(t, tab, "param_rank", i)
		if want, ok := r.Spec.MethodParams["rank"]; ok != (rank != nil) || (ok && float64(rank.(int64)) != want.(float64)) {
			t.Errorf("%s: param_rank %v, spec %v", r.ID, rank, want)
		}
		if r.Status == trial.Failed {
			failed++
			if value(t, tab, "error", i) != r.Error || r.Error == "" {
				t.Errorf("%s: failed trial's error not kept", r.ID)
			}
		}
	}
	if failed == 0 {
		t.Error("the fixture's failed trial is not in the table")
	}
	if c := tab.Column("param_targets"); c == nil || c.Kind != String {
		t.Error("targets, a list, should be a string column")
	}
}

func TestConfigurationsAggregateOverSeeds(t *testing.T) {
	rs := fixture(t)
	tab := Configurations(rs)
	// Independently: successful results grouped by everything but seed.
	means := map[string][]float64{}
	for _, r := range rs {
		if r.Status != trial.Success {
			continue
		}
		s := r.Spec
		s.Seed = 0
		means[s.ID()] = append(means[s.ID()], r.Metrics.TestAccuracy)
	}
	if tab.Rows() != len(means) {
		t.Fatalf("%d configurations, want %d", tab.Rows(), len(means))
	}
	chosen := 0
	for i := range tab.Rows() {
		var ids []string
		if err := json.Unmarshal([]byte(value(t, tab, "ids", i).(string)), &ids); err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, id := range ids {
			for _, r := range rs {
				if r.ID == id {
					sum += r.Metrics.TestAccuracy
				}
			}
		}
		if got := value(t, tab, "test_accuracy", i).(float64); math.Abs(got-sum/float64(len(ids))) > 1e-12 {
			t.Errorf("configuration %d: test_accuracy %v, mean of its trials %v", i, got, sum/float64(len(ids)))
		}
		if value(t, tab, "seeds", i) != int64(len(ids)) {
			t.Errorf("configuration %d: seeds %v for %d ids", i, value(t, tab, "seeds", i), len(ids))
		}
		if value(t, tab, "chosen", i) == true {
			chosen++
		}
	}
	if chosen == 0 || chosen == tab.Rows() {
		t.Errorf("%d of %d configurations chosen: the report chooses some, not all", chosen, tab.Rows())
	}
}

func TestCSVReadsBack(t *testing.T) {
	for _, tab := range []*Table{Trials(fixture(t)), Configurations(fixture(t))} {
		b, err := tab.Encode("csv")
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != tab.Rows()+1 {
			t.Fatalf("%s: %d lines for %d rows", tab.Name, len(recs), tab.Rows())
		}
		for i, c := range tab.Columns {
			if recs[0][i] != c.Name {
				t.Fatalf("%s: header %d is %q, want %q", tab.Name, i, recs[0][i], c.Name)
			}
			for r := range tab.Rows() {
				if got, want := recs[r+1][i], cell(c.Values[r]); got != want {
					t.Errorf("%s row %d %s: %q, want %q", tab.Name, r, c.Name, got, want)
				}
			}
		}
	}
}

func TestJSONLReadsBack(t *testing.T) {
	tab := Trials(fixture(t))
	b, err := tab.Encode("jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	r := 0
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		if len(row) != len(tab.Columns) {
			t.Fatalf("row %d has %d keys for %d columns", r, len(row), len(tab.Columns))
		}
		for _, c := range tab.Columns {
			got, want := row[c.Name], c.Values[r]
			if n, ok := want.(int64); ok {
				want = float64(n) // JSON numbers decode as float64
			}
			if got != want {
				t.Errorf("row %d %s: %v, want %v", r, c.Name, got, want)
			}
		}
		r++
	}
	if r != tab.Rows() {
		t.Fatalf("%d lines for %d rows", r, tab.Rows())
	}
}

// TestParquetReadsBack decodes the file with parquet-go's untyped row
// reader, not the struct the writer built, and compares every value.
func TestParquetReadsBack(t *testing.T) {
	for _, tab := range []*Table{Trials(fixture(t)), Configurations(fixture(t))} {
		b, err := tab.Encode("parquet")
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if f.NumRows() != int64(tab.Rows()) {
			t.Fatalf("%s: %d rows in the file, %d in the table", tab.Name, f.NumRows(), tab.Rows())
		}
		paths := f.Schema().Columns()
		if len(paths) != len(tab.Columns) {
			t.Fatalf("%s: %d columns in the file, %d in the table", tab.Name, len(paths), len(tab.Columns))
		}
		for i, p := range paths {
			if strings.Join(p, ".") != tab.Columns[i].Name {
				t.Fatalf("%s: column %d is %v, want %s (order kept)", tab.Name, i, p, tab.Columns[i].Name)
			}
		}
		rd := parquet.NewReader(bytes.NewReader(b))
		rows := make([]parquet.Row, tab.Rows())
		n, err := rd.ReadRows(rows)
		if n != tab.Rows() {
			t.Fatalf("%s: read %d rows of %d: %v", tab.Name, n, tab.Rows(), err)
		}
		for r, row := range rows {
			for _, v := range row {
				c := tab.Columns[v.Column()]
				want := c.Values[r]
				var got any
				if !v.IsNull() {
					switch c.Kind {
					case String:
						got = string(v.ByteArray())
					case Int:
						got = v.Int64()
					case Float:
						got = v.Double()
					case Bool:
						got = v.Boolean()
					}
				}
				if got != want {
					t.Errorf("%s row %d %s: %v, want %v", tab.Name, r, c.Name, got, want)
				}
			}
		}
		rd.Close()
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := Trials(fixture(t)).Encode("xlsx"); err == nil || !strings.Contains(err.Error(), "xlsx") {
		t.Errorf("unknown format: %v", err)
	}
}

func TestStepsTable(t *testing.T) {
	rs := fixture(t)
	if tab := Steps(rs); tab.Rows() != 0 || tab.Column("loss") == nil {
		t.Fatalf("results without step logs: %d rows, columns %v", tab.Rows(), tab.Columns)
	}
	rs[0].StepLog = []trial.StepPoint{{Step: 1, Epoch: 1, Loss: 0.7, LR: 1e-4, GradNorm: 2, TokensPerSec: 900}, {Step: 2, Epoch: 1, Loss: 0.6, LR: 2e-4, GradNorm: 1.5, TokensPerSec: 950}}
	tab := Steps(rs)
	if tab.Rows() != 2 || value(t, tab, "id", 1) != rs[0].ID || value(t, tab, "loss", 1) != 0.6 || value(t, tab, "step", 1) != int64(2) {
		t.Fatalf("steps table %d rows: %v", tab.Rows(), tab.Columns)
	}
	for _, f := range []string{"csv", "jsonl", "parquet"} {
		if _, err := Steps(fixture(t)).Encode(f); err != nil {
			t.Errorf("an empty steps table as %s: %v", f, err)
		}
	}
}
