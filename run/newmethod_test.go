package run

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/gpu/projection"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/reports"
	"github.com/peftbench/peftbench/trial"
)

// mlpScale is a throwaway method that exists in this test file only: a
// learned scale per feature on the output of every block's MLP branch,
// starting at one. Everything the house needs of a method is here (its
// hyper-parameters, hook, projection footprint and style), and nothing
// outside this file names it.
type mlpScale struct{}

const mlpScaleName = "test-mlp-scale"

func (mlpScale) Name() string { return mlpScaleName }
func (mlpScale) Doc() string  { return "test: a learned scale on every block's MLP branch" }
func (mlpScale) Params() []methods.Spec {
	return []methods.Spec{{Name: "init", Kind: methods.Float, Default: 1.0, Min: 0, Max: 10, Doc: "starting scale"}}
}
func (mlpScale) DefaultLR() float64 { return 1e-2 }

func (mlpScale) Attach(base *model.Base, v methods.Values, _ uint64) (*methods.Attached, error) {
	m := base.Model
	h := &mlpScaleHook{}
	for i := range m.Config.Layers {
		p := nn.NewParam(fmt.Sprintf("h.%d.mlp.scale", i), m.Params[0].Value.Dtype(), m.Config.DModel)
		p.Trainable = true
		vals := make([]float64, m.Config.DModel)
		for j := range vals {
			vals[j] = v.Float("init")
		}
		methods.SetValues(p, vals)
		h.scales = append(h.scales, p)
	}
	m.SetTrainable(false)
	return &methods.Attached{Hooks: []model.Hook{h}, Own: h.scales}, nil
}

type mlpScaleHook struct{ scales []*nn.Param }

func (h *mlpScaleHook) HookBlock(c *model.Ctx, layer int, branch string, x *model.Node) (*model.Node, error) {
	if branch != "mlp" {
		return x, nil
	}
	return nn.ScaleColumns(x, c.Graph.Param(h.scales[layer]))
}

// Footprint: layers·d scales; every block keeps the branch output each
// scale multiplies.
func (mlpScale) Footprint(a methods.ProjectionArch, _ methods.Values) (*methods.Footprint, error) {
	fp := &methods.Footprint{Added: int64(a.Layers) * int64(a.DModel), PerToken: make([]int64, a.Layers), Modules: []string{"mlp branch scales"}}
	for i := range fp.PerToken {
		fp.PerToken[i] = int64(a.DModel) * a.ActivationBytes
	}
	return fp, nil
}

var mlpScaleColor = color.RGBA{0x99, 0x33, 0x66, 0xff}

func (mlpScale) Display() display.Style {
	return display.Style{Order: 85, Color: mlpScaleColor, Marker: display.Diamond}
}

// A method added in one file runs through a trial (attach, training,
// evaluation), the GPU projection and a report, and takes its place and
// style in the report from its own declaration.
func TestMethodInOneFile(t *testing.T) {
	methods.Register(mlpScale{})
	defer methods.Unregister(mlpScaleName)
	base := tinyBase(t)
	dir := t.TempDir()
	for _, method := range []string{mlpScaleName, "full"} {
		for _, seed := range []int{3, 4} {
			spec := teaSpec(base, method, nil)
			spec.Seed, spec.Train.Epochs = seed, 2
			r := Trial(spec, quiet)
			if r.Status != trial.Success {
				t.Fatalf("%s seed %d: %s", method, seed, r.Error)
			}
			if err := r.Write(dir); err != nil {
				t.Fatal(err)
			}
			if method != mlpScaleName {
				continue
			}
			if r.NumTrainableParams != 16 { // one layer of d_model 16
				t.Errorf("%d trainable parameters, want 16", r.NumTrainableParams)
			}
			if len(r.Projected) != 3 {
				t.Fatalf("%d projections, want 3", len(r.Projected))
			}
			for i, a := range []projection.Arch{projection.GPT2XL, projection.Llama2_7B, projection.Llama3_8B} {
				if p := r.Projected[i]; p.Arch != a.Name || p.TrainableParams != int64(a.Layers*a.DModel) {
					t.Errorf("projection %d: %s with %d trainable, want %s with %d", i, p.Arch, p.TrainableParams, a.Name, a.Layers*a.DModel)
				}
			}
		}
	}
	readme, err := reports.Build(dir, reports.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var md string // the report and its appendix
	for _, f := range []string{readme, filepath.Join(filepath.Dir(readme), reports.AppendixFile)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		md += string(b)
	}
	// Every section lists full fine-tuning (order 10) before the new method
	// (order 85).
	for _, sec := range []string{"## 1. Summary", "## 7. Memory, measured and accounted", "## 8. Memory projected to large models", "## 9. Throughput"} {
		i := strings.Index(md, sec)
		if i < 0 {
			t.Fatalf("the report has no section %q", sec)
		}
		body := md[i+len(sec):]
		if j := strings.Index(body, "\n## "); j >= 0 {
			body = body[:j]
		}
		var order []string
		for _, m := range regexp.MustCompile(`\| (full|`+mlpScaleName+`)\b`).FindAllStringSubmatch(body, -1) {
			if len(order) == 0 || order[len(order)-1] != m[1] {
				order = append(order, m[1])
			}
		}
		if strings.Join(order, ",") != "full,"+mlpScaleName {
			t.Errorf("%s lists %v, want full then %s", sec, order, mlpScaleName)
		}
	}
	// Its declared colour is drawn in the figures.
	hex := fmt.Sprintf("#%02x%02x%02x", mlpScaleColor.R, mlpScaleColor.G, mlpScaleColor.B)
	svgs, _ := filepath.Glob(filepath.Join(filepath.Dir(readme), "*.svg"))
	drawn := false
	for _, f := range svgs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		drawn = drawn || strings.Contains(strings.ToLower(string(b)), hex) || strings.Contains(string(b), fmt.Sprintf("rgb(%d,%d,%d)", mlpScaleColor.R, mlpScaleColor.G, mlpScaleColor.B))
	}
	if !drawn {
		t.Errorf("no figure of %v draws %s in its colour %s", svgs, mlpScaleName, hex)
	}
}
