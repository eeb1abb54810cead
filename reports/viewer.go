package reports

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/peftbench/peftbench/trial"
)

// The viewer, report/index.html: one file that works offline, holding the
// charting library (npm's chart.js at the version viewer/chart.js.pin
// names, MIT), the page's own script and the report's configurations as
// JSON.
var (
	//go:embed viewer/chart.umd.js
	chartJS string
	//go:embed viewer/chart.js-LICENSE.md
	chartLicense string
	//go:embed viewer/index.html
	viewerHTML string
	//go:embed viewer/app.js
	viewerJS string
)

// ViewerFile is the viewer's file name in a report's folder.
const ViewerFile = "index.html"

// viewerCurvePoints bounds each configuration's loss curve in the viewer.
const viewerCurvePoints = 200

// viewerConfig is one configuration as the viewer's script reads it;
// missing numbers are null.
type viewerConfig struct {
	Model        string   `json:"model"`
	Task         string   `json:"task"`
	Method       string   `json:"method"`
	Name         string   `json:"name"`
	Params       string   `json:"params"`
	Augment      string   `json:"augment"`
	DataSize     int      `json:"data_size"`
	Examples     int      `json:"examples"`
	LR           float64  `json:"lr"`
	Seeds        int      `json:"seeds"`
	Test         *float64 `json:"test"`
	TestStd      *float64 `json:"test_std"`
	TestLo       *float64 `json:"test_lo"`
	TestHi       *float64 `json:"test_hi"`
	Valid        *float64 `json:"valid"`
	Trainable    int      `json:"trainable"`
	Total        int      `json:"total"`
	PeakMemory   *float64 `json:"peak_memory"`
	PeakHeap     *float64 `json:"peak_heap"`
	Accounted    *float64 `json:"accounted"`
	TokensPerSec *float64 `json:"tokens_per_sec"`
	TrainTime    *float64 `json:"train_time"`
	Chosen       bool     `json:"chosen"`
	VsMajority   *float64 `json:"vs_majority"`
	VsMajorityP  *float64 `json:"vs_majority_p"`
	Above        bool     `json:"above_majority"`
	// Untrained marks the control that trains nothing (zero-shot): it has
	// no data size, so the page draws it on no front or curve.
	Untrained bool       `json:"untrained,omitempty"`
	Loss      [][2]any   `json:"loss"`       // [step, loss] of the first seed's step log
	EpochLoss []*float64 `json:"epoch_loss"` // the first seed's
}

// viewerData is everything the page shows.
type viewerData struct {
	Title     string                     `json:"title"`
	Configs   []viewerConfig             `json:"configs"`
	Baselines map[string]viewerBaselines `json:"baselines"`
	Chart     string                     `json:"chart"` // the library and version embedded
}

type viewerBaselines struct {
	Majority *float64 `json:"majority"`
	BoW      *float64 `json:"bow"`
}

func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// viewer builds the page for the configurations of results.
func viewer(title string, results []*trial.Result, in inputs, t *tables) ([]byte, error) {
	byID := map[string]*trial.Result{}
	for _, r := range results {
		byID[r.ID] = r
	}
	d := viewerData{Title: title, Baselines: map[string]viewerBaselines{}, Chart: "chart.js " + chartVersion()}
	for _, c := range configurations(results, in, t) {
		v := viewerConfig{Model: c.Model, Task: c.Task, Method: c.Method, Name: c.Name, Params: c.Params, Augment: c.Augment,
			DataSize: c.DataSize, Examples: c.Examples, LR: c.Train.LR, Seeds: len(c.Seeds),
			Test: num(c.TestMean), TestStd: num(c.TestStd), TestLo: num(c.TestLo), TestHi: num(c.TestHi), Valid: num(c.ValidMean),
			Trainable: c.NumTrainableParams, Total: c.NumTotalParams, PeakMemory: num(c.PeakMemoryBytes), PeakHeap: num(c.PeakHeapBytes),
			Accounted: num(c.AccountedBytes), TokensPerSec: num(c.TokensPerSec), TrainTime: num(c.TrainTime),
			Chosen: c.Chosen, VsMajority: num(c.VsMajorityDiff), VsMajorityP: num(c.VsMajorityP), Above: c.AboveMajority,
			Untrained: untrained(c.Method), Loss: [][2]any{}, EpochLoss: []*float64{}}
		if v.Name == "" {
			v.Name = c.Method
		}
		if len(c.IDs) > 0 {
			if r := byID[c.IDs[0]]; r != nil {
				stride := max(1, (len(r.StepLog)+viewerCurvePoints-1)/viewerCurvePoints)
				for i, p := range r.StepLog {
					if i%stride == 0 || i == len(r.StepLog)-1 {
						v.Loss = append(v.Loss, [2]any{p.Step, num(p.Loss)})
					}
				}
				for _, l := range r.Metrics.EpochLoss {
					v.EpochLoss = append(v.EpochLoss, num(l))
				}
			}
		}
		d.Configs = append(d.Configs, v)
		if _, ok := d.Baselines[c.Task]; !ok {
			var b viewerBaselines
			if base, ok := in.Baselines[c.Task]; ok {
				b.Majority = num(base.Majority)
				if base.BoWLR != nil {
					b.BoW = num(base.BoWLR.Accuracy)
				}
			}
			d.Baselines[c.Task] = b
		}
	}
	data, err := json.Marshal(d) // escapes <, > and &: no "</script>" can appear
	if err != nil {
		return nil, fmt.Errorf("reports: viewer data: %w", err)
	}
	marks := []string{"/*TITLE*/", htmlEscape(title), "/*CHART_LICENSE*/", strings.ReplaceAll(chartLicense, "*/", "* /"),
		"/*CHART_JS*/", chartJS, "/*DATA*/", string(data), "/*APP_JS*/", viewerJS}
	for i := 0; i < len(marks); i += 2 {
		if !strings.Contains(viewerHTML, marks[i]) {
			return nil, fmt.Errorf("reports: viewer template: no %s", marks[i])
		}
	}
	// One pass over the template: what is put in is not searched again.
	page := strings.NewReplacer(marks...).Replace(viewerHTML)
	return []byte(page), nil
}

// chartVersion is the version the pin file names.
func chartVersion() string {
	for _, l := range strings.Split(chartPin, "\n") {
		if v, ok := strings.CutPrefix(l, "version="); ok {
			return v
		}
	}
	return "?"
}

//go:embed viewer/chart.js.pin
var chartPin string

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
