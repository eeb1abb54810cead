package sweep

import (
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// ReportSettings are what a spec's `report:` field asks of its report:
//
//	report:
//	  parity_margin: 2             # points: parity needs the equivalence test within ±2
//	  primary: [[lora, prompt]]    # comparisons the report answers as a family of their own
type ReportSettings struct {
	// ParityMargin is the equivalence margin as a fraction of accuracy
	// (0.02 for 2 points); 0 leaves the report's default.
	ParityMargin float64
	// Primary are the pairs of method or control names the spec declares.
	Primary [][2]string
	lines   []int // of each Primary pair
	line    int   // of the field
}

// parseReport reads the report: field.
func parseReport(v *yaml.Node) (ReportSettings, error) {
	r := ReportSettings{line: v.Line}
	if v.Kind != yaml.MappingNode {
		return r, fmt.Errorf("want a mapping with parity_margin and primary")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		switch k.Value {
		case "parity_margin":
			var points float64
			if err := val.Decode(&points); err != nil || points <= 0 || points >= 100 {
				return r, fmt.Errorf("line %d: parity_margin %q: want accuracy points between 0 and 100, e.g. 2", val.Line, val.Value)
			}
			r.ParityMargin = points / 100
		case "primary":
			if val.Kind != yaml.SequenceNode {
				return r, fmt.Errorf("line %d: primary: want a list of pairs, e.g. [[lora, prompt]]", val.Line)
			}
			for _, it := range val.Content {
				var pair []string
				if err := it.Decode(&pair); err != nil || len(pair) != 2 || pair[0] == pair[1] {
					return r, fmt.Errorf("line %d: primary: want a pair of two different method names, e.g. [lora, prompt]", it.Line)
				}
				r.Primary = append(r.Primary, [2]string{pair[0], pair[1]})
				r.lines = append(r.lines, it.Line)
			}
		default:
			return r, fmt.Errorf("line %d: unknown field %q (want parity_margin, primary)", k.Line, k.Value)
		}
	}
	return r, nil
}

// checkReport checks that every primary pair names methods or controls
// the sweep runs.
func (s *Spec) checkReport() error {
	for i, p := range s.Report.Primary {
		for _, name := range p {
			if !slices.Contains(s.Controls, name) && !slices.ContainsFunc(s.Methods, func(m MethodGrid) bool { return m.Method == name }) {
				return specError(s.File, s.Report.lines[i], "report", "primary: %q is not a method or control of this sweep", name)
			}
		}
	}
	return nil
}

// LoadReportSettings reads the report: field of a spec file alone, so a
// report can honour it without loading the sweep's models and tasks.
func LoadReportSettings(path string) (ReportSettings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return ReportSettings{}, fmt.Errorf("sweep: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return ReportSettings{}, fmt.Errorf("sweep: %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return ReportSettings{}, fmt.Errorf("sweep: %s: expected a mapping of fields", path)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "report" {
			r, err := parseReport(root.Content[i+1])
			if err != nil {
				return r, specError(path, root.Content[i+1].Line, "report", "%v", err)
			}
			return r, nil
		}
	}
	return ReportSettings{}, nil
}
