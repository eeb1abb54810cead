// Package sweep expands a sweep spec (YAML in sweeps/) into trials and runs
// them, each in its own child process, resumably: results are keyed by the
// trial's content hash and written atomically, so an interrupted sweep
// reruns only what is missing.
package sweep

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/peftbench/peftbench/augment"
	"github.com/peftbench/peftbench/internal/numfmt"
	"github.com/peftbench/peftbench/methods"
	"github.com/peftbench/peftbench/methods/display"
	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn/device"
	"github.com/peftbench/peftbench/tasks"
	"github.com/peftbench/peftbench/trial"
	"gopkg.in/yaml.v3"
)

// Spec is a parsed sweep: the axes every method crosses, the training
// settings, and each method's own grid.
type Spec struct {
	Name      string
	File      string
	Models    []string
	Tasks     []string
	DataSizes []int // 0 means all
	Seeds     []int
	// SeedsBySize replaces Seeds at the data sizes it names (0: all), so a
	// sweep can replicate where it draws conclusions and stay cheap
	// elsewhere.
	SeedsBySize map[int][]int
	Train       trial.Settings
	Methods     []MethodGrid // in file order
	// Controls are added beside the methods (display.Controls): all of them
	// unless the spec says otherwise.
	Controls []string
	// Augments is the augmentation axis every method crosses (controls do
	// not): nil for none, the only entry unless the spec says otherwise.
	Augments []*trial.Augment
	// Tune is the tuning stage, nil for none.
	Tune *Tune
	// Device is where every trial trains and evaluates (trial.Spec.Device):
	// cpu, cuda or opencl; empty for auto.
	Device string
	// Report is what the spec asks of its report (report:).
	Report ReportSettings
	lines  map[string]int
	// sizeLines holds the line of each of DataSizes.
	sizeLines []int
	// taskHash and modelHash hold the content hash of each task and model,
	// taken once when Parse checks them; Trials puts them in every trial.
	taskHash, modelHash map[string]string
}

// MethodGrid is one method's axes: hyper-parameter (or "lr") → values.
// Axes of different methods never multiply.
type MethodGrid struct {
	Method string
	Axes   map[string][]any
	line   int
	lines  map[string]int
}

// specError names the file, line and field of a bad spec.
func specError(file string, line int, field, format string, args ...any) error {
	return fmt.Errorf("sweep: %s:%d: field %q: %s", file, line, field, fmt.Sprintf(format, args...))
}

// Load reads and validates a sweep spec file.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a sweep spec: every field, method, hyper-parameter and
// value is checked before any trial runs.
func Parse(file string, data []byte) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("sweep: %s: %w", file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("sweep: %s: expected a mapping of fields", file)
	}
	if err := duplicateKey(file, &doc, ""); err != nil {
		return nil, err
	}
	s := &Spec{File: file, Models: []string{"tiny"}, Seeds: []int{1}, DataSizes: []int{0}, Controls: display.Controls(),
		Train: trial.Settings{Epochs: 3, Batch: 16, WeightDecay: 0.01, WarmupFrac: 0.1, Select: true}, Augments: []*trial.Augment{nil}}
	root := doc.Content[0]
	s.lines = map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s.lines[k.Value] = k.Line
		var err error
		switch k.Value {
		case "name":
			err = v.Decode(&s.Name)
		case "models":
			s.Models, err = stringList(v)
		case "tasks":
			s.Tasks, err = stringList(v)
		case "seeds":
			s.Seeds, err = intList(v, false)
		case "seeds_by_size":
			s.SeedsBySize, err = seedsBySize(v)
		case "data_sizes":
			s.DataSizes, err = intList(v, true)
			s.sizeLines = itemLines(v)
		case "train":
			err = s.parseTrain(v)
		case "methods":
			err = s.parseMethods(v)
		case "controls":
			s.Controls, err = controls(v)
		case "augment":
			s.Augments, err = s.augments(v)
		case "tune":
			err = s.parseTune(v)
		case "device":
			if err = v.Decode(&s.Device); err == nil {
				s.Device, err = CheckDevice(s.Device)
			}
		case "report":
			s.Report, err = parseReport(v)
		default:
			return nil, specError(file, k.Line, k.Value, "unknown field (want name, models, tasks, data_sizes, seeds, seeds_by_size, train, methods, controls, augment, tune, device, report)")
		}
		if err != nil {
			if strings.HasPrefix(err.Error(), "sweep: ") {
				return nil, err
			}
			return nil, specError(file, v.Line, k.Value, "%v", err)
		}
	}
	for _, req := range []string{"tasks", "methods"} {
		if s.lines[req] == 0 {
			return nil, specError(file, root.Line, req, "required")
		}
	}
	if err := s.checkTune(); err != nil {
		return nil, err
	}
	if err := s.checkReport(); err != nil {
		return nil, err
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// CheckDevice checks a device name (a spec's device: or --device) and
// returns it as trial.Spec.Device holds it: auto as empty.
func CheckDevice(name string) (string, error) {
	if !slices.Contains(device.Names, name) {
		return "", fmt.Errorf("unknown device %q (want one of %s)", name, strings.Join(device.Names, ", "))
	}
	if name == "auto" {
		return "", nil
	}
	return name, nil
}

func stringList(v *yaml.Node) ([]string, error) {
	var out []string
	if v.Kind == yaml.ScalarNode {
		return []string{v.Value}, nil
	}
	if err := v.Decode(&out); err != nil {
		return nil, fmt.Errorf("want a list of names")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}

func intList(v *yaml.Node, allowAll bool) ([]int, error) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	var out []int
	for _, it := range items {
		if allowAll && it.Value == "all" {
			out = append(out, 0)
			continue
		}
		n, err := strconv.Atoi(it.Value)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("line %d: %q is not a positive integer%s", it.Line, it.Value, map[bool]string{true: " or all"}[allowAll])
		}
		out = append(out, n)
	}
	return out, nil
}

// seedsBySize reads seeds_by_size: a mapping of data size (or all) to a
// list of seeds.
func seedsBySize(v *yaml.Node) (map[int][]int, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want a mapping of data size to seeds, e.g. {1024: [1, 2, 3]}")
	}
	out := map[int][]int{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		n, err := intList(k, true)
		if err != nil {
			return nil, err
		}
		if _, dup := out[n[0]]; dup {
			return nil, fmt.Errorf("line %d: data size %s given twice", k.Line, k.Value)
		}
		if out[n[0]], err = intList(val, false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sizeName(n int) string {
	if n == 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

// seedsAt are the seeds of the trials at data size n.
func (s *Spec) seedsAt(n int) []int {
	if seeds, ok := s.SeedsBySize[n]; ok {
		return seeds
	}
	return s.Seeds
}

// itemLines is the line of each item of a value or list.
func itemLines(v *yaml.Node) []int {
	if v.Kind != yaml.SequenceNode {
		return []int{v.Line}
	}
	lines := make([]int, len(v.Content))
	for i, it := range v.Content {
		lines[i] = it.Line
	}
	return lines
}

func (s *Spec) parseTrain(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		field := "train." + k.Value
		var err error
		switch k.Value {
		case "epochs":
			err = val.Decode(&s.Train.Epochs)
			if err == nil && s.Train.Epochs < 1 {
				err = fmt.Errorf("must be at least 1")
			}
		case "batch":
			err = val.Decode(&s.Train.Batch)
			if err == nil && s.Train.Batch < 1 {
				err = fmt.Errorf("must be at least 1")
			}
		case "weight_decay":
			err = val.Decode(&s.Train.WeightDecay)
		case "warmup_frac":
			err = val.Decode(&s.Train.WarmupFrac)
			if err == nil && (s.Train.WarmupFrac < 0 || s.Train.WarmupFrac > 1) {
				err = fmt.Errorf("must be in [0, 1]")
			}
		case "select":
			err = val.Decode(&s.Train.Select)
		case "max_eval":
			err = val.Decode(&s.Train.MaxEval)
			if err == nil && s.Train.MaxEval < 0 {
				err = fmt.Errorf("must be at least 0 (0: every example)")
			}
		case "max_valid":
			err = val.Decode(&s.Train.MaxValid)
			if err == nil && s.Train.MaxValid < 0 {
				err = fmt.Errorf("must be at least 0 (0: every example)")
			}
		case "min_steps":
			err = val.Decode(&s.Train.MinSteps)
			if err == nil && s.Train.MinSteps < 0 {
				err = fmt.Errorf("must be at least 0 (0: epochs alone set the length)")
			}
		default:
			err = fmt.Errorf("unknown field (want epochs, min_steps, batch, weight_decay, warmup_frac, select, max_eval, max_valid)")
		}
		if err != nil {
			return specError(s.File, k.Line, field, "%v", err)
		}
	}
	return nil
}

func (s *Spec) parseMethods(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
		return fmt.Errorf("want a mapping of method names to their grids")
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, grid := v.Content[i], v.Content[i+1]
		m, err := methods.Get(k.Value)
		if err != nil {
			return specError(s.File, k.Line, "methods."+k.Value, "unknown method (have %s)", strings.Join(methods.Names(), ", "))
		}
		g := MethodGrid{Method: m.Name(), Axes: map[string][]any{}, line: k.Line, lines: map[string]int{}}
		if grid.Kind != yaml.MappingNode && !(grid.Kind == yaml.ScalarNode && grid.Tag == "!!null") {
			return specError(s.File, grid.Line, "methods."+k.Value, "want a mapping of hyper-parameters to values or lists")
		}
		var from *yaml.Node
		given := map[string]string{} // hyper-parameter -> the key that set it
		for j := 0; j+1 < len(grid.Content); j += 2 {
			pk, pv := grid.Content[j], grid.Content[j+1]
			field := "methods." + k.Value + "." + pk.Value
			if pk.Value == "from" {
				from = pv
				continue
			}
			var vals []any
			if pv.Kind == yaml.SequenceNode {
				if err := pv.Decode(&vals); err != nil || len(vals) == 0 {
					return specError(s.File, pv.Line, field, "want a value or a non-empty list")
				}
				switch pk.Value { // a list of modules is one value
				case "targets", "target_modules", "feedforward_modules":
					vals = []any{vals}
				}
			} else {
				var one any
				if err := pv.Decode(&one); err != nil {
					return specError(s.File, pv.Line, field, "%v", err)
				}
				vals = []any{one}
			}
			// PEFT's names (r, lora_alpha, ...) become this package's before
			// anything hashes them: either spelling gives the same trials.
			name, keep := pk.Value, false
			for i, v := range vals {
				n, cv, ok, err := methods.Canonical(g.Method, pk.Value, v)
				if err != nil {
					return specError(s.File, pv.Line, field, "%v", err)
				}
				name, vals[i], keep = n, cv, keep || ok
			}
			if !keep {
				continue
			}
			if prev, dup := given[name]; dup {
				return specError(s.File, pk.Line, field, "sets %q, as %q does", name, prev)
			}
			given[name] = pk.Value
			g.Axes[name], g.lines[name] = vals, pk.Line
		}
		if from != nil {
			// Settings from a PEFT adapter_config.json; the spec's own keys win,
			// so a grid can vary what the file fixes.
			field := "methods." + k.Value + ".from"
			var file string
			if err := from.Decode(&file); err != nil || file == "" {
				return specError(s.File, from.Line, field, "want the path of a PEFT adapter_config.json")
			}
			settings, err := methods.FromPEFTConfig(g.Method, file)
			if err != nil {
				return specError(s.File, from.Line, field, "%v", err)
			}
			for name, v := range settings {
				if _, set := g.Axes[name]; !set {
					g.Axes[name], g.lines[name] = []any{v}, from.Line
				}
			}
		}
		s.Methods = append(s.Methods, g)
	}
	return nil
}

// check validates names and every grid point against its method, checks
// every data size against each task's training split, and takes the
// content hash of each task and model.
func (s *Spec) check() error {
	var bases []*model.Base
	s.modelHash = map[string]string{}
	for _, name := range s.Models {
		b, err := model.LoadBase(name)
		if err == nil {
			s.modelHash[name], err = model.ContentHash(name)
		}
		if err != nil {
			return specError(s.File, s.lines["models"], "models", "%v", err)
		}
		bases = append(bases, b)
	}
	s.taskHash = map[string]string{}
	trainSize := map[string]int{}
	for _, t := range s.Tasks {
		task, err := tasks.Load(t)
		if err == nil {
			trainSize[t], err = task.SplitSize("train")
		}
		if err == nil {
			s.taskHash[t], err = tasks.ContentHash(t)
		}
		if err != nil {
			return specError(s.File, s.lines["tasks"], "tasks", "%v", err)
		}
		for _, a := range s.Augments {
			if a == nil {
				continue
			}
			if err := augment.Check(a, task); err != nil {
				return specError(s.File, s.lines["augment"], "augment", "%v", err)
			}
		}
	}
	// A size larger than a training split would fail only when its trial
	// runs.
	tooBig := func(n int) error {
		for _, t := range s.Tasks {
			if n > trainSize[t] {
				return fmt.Errorf("data size %d exceeds the %s examples of %s's training split", n, numfmt.Thousands(float64(trainSize[t])), t)
			}
		}
		return nil
	}
	if s.Tune != nil {
		if err := tooBig(s.Tune.DataSize); err != nil {
			return specError(s.File, s.lines["tune"], "tune.data_size", "%v", err)
		}
	}
	for i, n := range s.DataSizes {
		if err := tooBig(n); err != nil {
			line := s.lines["data_sizes"]
			if i < len(s.sizeLines) {
				line = s.sizeLines[i]
			}
			return specError(s.File, line, "data_sizes", "%v", err)
		}
	}
	runs := map[int]bool{}
	for _, n := range s.DataSizes {
		runs[n] = true
	}
	for _, g := range s.Methods {
		for _, v := range g.Axes["data_size"] {
			if n, ok := dataSize(v); ok {
				runs[n] = true
			}
		}
	}
	for n := range s.SeedsBySize {
		if !runs[n] {
			return specError(s.File, s.lines["seeds_by_size"], "seeds_by_size", "data size %s is not one the sweep runs (data_sizes, or a method's data_size)", sizeName(n))
		}
	}
	for _, g := range s.Methods {
		m, _ := methods.Get(g.Method)
		for _, point := range g.points() {
			params, lr, size := split(point)
			if n, ok := dataSize(size); size != nil && !ok {
				return specError(s.File, g.lines["data_size"], "methods."+g.Method+".data_size", "%v is not a positive integer or all", size)
			} else if err := tooBig(n); err != nil {
				return specError(s.File, g.lines["data_size"], "methods."+g.Method+".data_size", "%v", err)
			}
			if lr != nil {
				if f, ok := toFloat(lr); !ok || !(f > 0) {
					return specError(s.File, g.lines["lr"], "methods."+g.Method+".lr", "%v is not a positive number", lr)
				}
			}
			// Attaching to each base model catches what only a model can
			// tell: a target matching no layer, a prompt longer than the
			// context.
			err := error(nil)
			if _, err = methods.Resolve(m, params); err == nil {
				for _, b := range bases {
					if _, err = methods.Attach(b, g.Method, params, 1); err != nil {
						break
					}
				}
			}
			if err != nil {
				field, line := "methods."+g.Method, g.line
				for k, l := range g.lines {
					if strings.Contains(err.Error(), `"`+k+`"`) {
						field, line = field+"."+k, l
					}
				}
				return specError(s.File, line, field, "%v", err)
			}
		}
	}
	return nil
}

// points is the cartesian product of the grid's axes, keys in sorted
// order so expansion is deterministic.
func (g MethodGrid) points() []map[string]any {
	keys := make([]string, 0, len(g.Axes))
	for k := range g.Axes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := []map[string]any{{}}
	for _, k := range keys {
		var next []map[string]any
		for _, p := range out {
			for _, v := range g.Axes[k] {
				q := map[string]any{k: v}
				for pk, pv := range p {
					q[pk] = pv
				}
				next = append(next, q)
			}
		}
		out = next
	}
	return out
}

// split separates the trial settings a method grid may vary (the learning
// rate and the data size) from the method's hyper-parameters.
func split(point map[string]any) (params map[string]any, lr, size any) {
	params = map[string]any{}
	for k, v := range point {
		switch k {
		case "lr":
			lr = v
		case "data_size":
			size = v
		default:
			params[k] = v
		}
	}
	return params, lr, size
}

// dataSize reads a per-method data size: a positive integer or "all".
func dataSize(x any) (int, bool) {
	if x == "all" {
		return 0, true
	}
	n, ok := x.(int)
	return n, ok && n > 0
}

// controls reads the controls field: a list (possibly empty) of control
// names.
func controls(v *yaml.Node) ([]string, error) {
	var out []string
	if err := v.Decode(&out); err != nil {
		return nil, fmt.Errorf("want a list of controls (%s)", strings.Join(display.Controls(), ", "))
	}
	for _, c := range out {
		if !display.IsControl(c) {
			return nil, fmt.Errorf("unknown control %q (have %s)", c, strings.Join(display.Controls(), ", "))
		}
	}
	return out, nil
}

// augments reads the augment field: one entry or a list, each "none" or
// {llm2llm: {iterations, per_error, teacher[, url, model, key_env]}}.
func (s *Spec) augments(v *yaml.Node) ([]*trial.Augment, error) {
	items := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		items = v.Content
	}
	if len(items) == 0 {
		return nil, specError(s.File, v.Line, "augment", "empty list (want none, or {llm2llm: {iterations, per_error, teacher}})")
	}
	var out []*trial.Augment
	for _, it := range items {
		if it.Kind == yaml.ScalarNode && it.Value == "none" {
			out = append(out, nil)
			continue
		}
		if it.Kind != yaml.MappingNode || len(it.Content) != 2 || it.Content[0].Value != "llm2llm" {
			return nil, specError(s.File, it.Line, "augment", "want none, or {llm2llm: {iterations, per_error, teacher}}")
		}
		body := it.Content[1]
		if body.Kind != yaml.MappingNode {
			return nil, specError(s.File, body.Line, "augment.llm2llm", "want a mapping of iterations, per_error, teacher")
		}
		a := &trial.Augment{Kind: "llm2llm"}
		set := map[string]bool{}
		for i := 0; i+1 < len(body.Content); i += 2 {
			k, v := body.Content[i], body.Content[i+1]
			var err error
			switch k.Value {
			case "iterations":
				err = v.Decode(&a.Iterations)
			case "per_error":
				err = v.Decode(&a.PerError)
			case "teacher":
				err = v.Decode(&a.Teacher)
			case "url":
				err = v.Decode(&a.URL)
			case "model":
				err = v.Decode(&a.Model)
			case "key_env":
				err = v.Decode(&a.KeyEnv)
			default:
				err = fmt.Errorf("unknown field (want iterations, per_error, teacher, url, model, key_env)")
			}
			if err != nil {
				return nil, specError(s.File, k.Line, "augment.llm2llm."+k.Value, "%v", err)
			}
			set[k.Value] = true
		}
		for _, req := range []string{"iterations", "per_error", "teacher"} {
			if !set[req] {
				return nil, specError(s.File, body.Line, "augment.llm2llm."+req, "required")
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// Trials expands the spec as far as it is decided without results: with a
// tune stage, the trials of tuned configurations are left out until their
// rate is chosen (see Plan).
func (s *Spec) Trials() []trial.Spec { return s.Plan(nil).All() }

// Plan expands the spec: models × tasks × augmentations × (each method's
// own grid) × data sizes × seeds, then the controls (never augmented). A
// method grid that sets data_size uses its own sizes instead of the shared
// ones. Zero-shot is one trial per model and task (it trains nothing, so
// seeds and sizes do not apply); scratch gets the budget of the method it
// controls for (full fine-tuning): the learning rates and data sizes of
// the spec's grid of that method, or its defaults and the shared sizes. With a tune stage, a configuration whose
// grid lists several rates contributes its tuning trials, and its other
// trials once result (nil: no results) holds every tuning trial's. Every
// trial carries the content hashes of its task and model, taken once when
// Parse checked them, so a trial's id changes when the task's data or the
// model's files do.
func (s *Spec) Plan(result ResultOf) Plan {
	if result == nil {
		result = func(trial.Spec) *trial.Result { return nil }
	}
	var p Plan
	seen := map[string]bool{}
	add := func(list *[]trial.Spec) func(trial.Spec) {
		return func(t trial.Spec) {
			if id := t.ID(); !seen[id] {
				seen[id] = true
				*list = append(*list, t)
			}
		}
	}
	e := expansion{plan: &p, tuning: add(&p.Tuning), rest: add(&p.Rest), result: result}
	for _, mdl := range s.Models {
		for _, task := range s.Tasks {
			for _, aug := range s.Augments {
				for _, g := range s.Methods {
					s.expand(mdl, task, g, aug, e)
				}
			}
			for _, c := range s.Controls {
				switch d := display.Declared(c); d.Role {
				case display.Untrained:
					e.rest(trial.Spec{Model: mdl, Task: task, Method: c, Name: c, MethodParams: map[string]any{},
						Train:    trial.Settings{Batch: s.Train.Batch, MaxEval: s.Train.MaxEval},
						TaskHash: s.hash(&s.taskHash, task, tasks.ContentHash), ModelHash: s.hash(&s.modelHash, mdl, model.ContentHash), Device: s.Device})
				case display.Unpretrained:
					g := MethodGrid{Method: c, Axes: map[string][]any{}}
					for _, of := range s.Methods {
						if of.Method == d.Of {
							for _, k := range []string{"lr", "data_size"} {
								if vals, ok := of.Axes[k]; ok {
									g.Axes[k] = vals
								}
							}
						}
					}
					s.expand(mdl, task, g, nil, e)
				}
			}
		}
	}
	return p
}

// expansion is where expand puts what it finds.
type expansion struct {
	plan         *Plan
	tuning, rest func(trial.Spec)
	result       ResultOf
}

// expand adds the trials of one method grid on one model and task, with
// augmentation aug (nil for none).
func (s *Spec) expand(mdl, task string, g MethodGrid, aug *trial.Augment, e expansion) {
	m, _ := methods.Get(g.Method)
	taskHash, modelHash := s.hash(&s.taskHash, task, tasks.ContentHash), s.hash(&s.modelHash, mdl, model.ContentHash)
	rates := g.Axes["lr"]
	tuned := s.Tune != nil && len(rates) > 1
	for _, point := range g.points() {
		params, lr, size := split(point)
		if tuned && lr != rates[0] {
			continue // a tuned configuration is expanded once, from its first rate
		}
		vals, _ := methods.Resolve(m, params)
		sizes := s.DataSizes
		if n, ok := dataSize(size); ok {
			sizes = []int{n}
		}
		nameOf := func(named map[string]any) string {
			if aug != nil {
				return g.name(named) + " +" + aug.Label()
			}
			return g.name(named)
		}
		// newTrial is the trial at one rate, size and seed, named by the
		// grid point named.
		newTrial := func(named map[string]any, lr any, n, seed int) trial.Spec {
			settings := s.Train
			settings.LR = m.DefaultLR()
			if lr != nil {
				settings.LR, _ = toFloat(lr)
			}
			return trial.Spec{Model: mdl, Task: task, DataSize: n, Method: g.Method, Name: nameOf(named),
				MethodParams: methods.TrialParams(m, vals), Seed: seed, Train: settings,
				TaskHash: taskHash, ModelHash: modelHash, Augment: aug, Device: s.Device}
		}
		named := point
		if tuned {
			var tuning []trial.Spec
			for _, r := range rates {
				t := newTrial(with(point, "lr", r), r, s.Tune.DataSize, s.Tune.Seed)
				tuning = append(tuning, t)
				e.tuning(t)
			}
			named = without(point, "lr") // the configuration's name, whatever its rate
			config := fmt.Sprintf("%s/%s (%s)", task, nameOf(named), mdl)
			chosen, ok, waiting := choose(tuning, e.result)
			switch {
			case waiting:
				for _, n := range sizes {
					e.plan.Waiting += len(s.seedsAt(n))
				}
				continue
			case !ok:
				e.plan.Untrained = append(e.plan.Untrained, describe(config, tuning, 0, false))
				continue
			}
			e.plan.Chosen = append(e.plan.Chosen, describe(config, tuning, chosen, true))
			lr = chosen
		}
		for _, n := range sizes {
			for _, seed := range s.seedsAt(n) {
				e.rest(newTrial(named, lr, n, seed))
			}
		}
	}
}

// with and without return a copy of a grid point with key set to v, or
// without key.
func with(point map[string]any, key string, v any) map[string]any {
	out := without(point, key)
	out[key] = v
	return out
}

func without(point map[string]any, key string) map[string]any {
	out := map[string]any{}
	for k, v := range point {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// name is the spec's name for a grid point: the method and each axis that
// takes more than one value in the grid (data sizes aside, which the
// check keys on by themselves), "lora rank=4". A value the spec or a
// default changes under that name is then a change of the configuration,
// not a new one.
func (g MethodGrid) name(point map[string]any) string {
	var keys []string
	for k, vals := range g.Axes {
		if len(vals) > 1 && k != "data_size" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	name := g.Method
	for _, k := range keys {
		if v, ok := point[k]; ok {
			name += " " + k + "=" + trial.FormatParam(v)
		}
	}
	return name
}

// hash returns the content hash of a task or model, as taken by check. A
// name check did not see (a Spec built or changed by hand) is hashed now
// and remembered; one that cannot be read gets no hash, and its trials
// fail when they load it.
func (s *Spec) hash(cache *map[string]string, name string, content func(string) (string, error)) string {
	if h, ok := (*cache)[name]; ok {
		return h
	}
	if *cache == nil {
		*cache = map[string]string{}
	}
	h, _ := content(name)
	(*cache)[name] = h
	return h
}

func toFloat(x any) (float64, bool) {
	switch v := x.(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}
