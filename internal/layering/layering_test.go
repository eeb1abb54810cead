package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/peftbench/peftbench/"

// layers orders the packages from the ground up: a package may import
// only packages of a lower layer. An entry ending in "/..." covers the
// folder and everything under it. A new package must be placed here.
var layers = [][]string{
	// devices under the engine: the programs' kernels run there; and
	// helpers every layer uses, which import nothing of the project
	{"nn/device", "internal/numfmt"},
	// opening the test device, for the device tests
	{"nn/device/devicetest"},
	// the engine, and the pieces that link nothing of the project
	{"nn", "model/tokenizer", "stats", "methods/display", "internal/atomicfile", "internal/detrand", "internal/meter",
		"gpu", "corpus", "corpus/internal/build", "cluster", "edge"},
	{"internal/machine", "tasks", "model"},
	// the result schema; the methods, on the model's hooks
	{"trial", "methods", "tasks/internal/builddata"},
	{"trial/aggregate", "train", "gpu/projection", "augment", "export/tensorboard"},
	// readers of results, and the benchmarks and measurements over train
	{"check", "reports", "bench", "edge/measure"},
	// tables of results, from the reports' aggregation
	{"export"},
	// running one trial
	{"run"},
	// running many
	{"sweep"},
	// the command line
	{"harness"},
}

// engine are what a reader of result files must never link, directly or
// through another package: a report is rebuilt from result files alone.
var (
	readers = []string{"reports", "check", "stats", "trial", "trial/aggregate", "export", "export/tensorboard"}
	engine  = []string{"nn", "nn/device/...", "model", "methods", "train"}
)

func layerOf(pkg string) int {
	for i, l := range layers {
		for _, p := range l {
			if p == pkg || (strings.HasSuffix(p, "/...") && (pkg == strings.TrimSuffix(p, "/...") || strings.HasPrefix(pkg, strings.TrimSuffix(p, "...")))) {
				return i
			}
		}
	}
	return -1
}

func matches(pkg string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		return p == pkg || (strings.HasSuffix(p, "/...") && (pkg == strings.TrimSuffix(p, "/...") || strings.HasPrefix(pkg, strings.TrimSuffix(p, "..."))))
	})
}

// imports is the project's import graph (imports of non-test files, under
// every build tag), by path inside the module. It parses the sources
// itself rather than asking go list, so that go test's cache sees every
// file it depends on.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	g := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, ok := g[pkg]; !ok {
			g[pkg] = nil
		}
		for _, im := range f.Imports {
			if d := strings.Trim(im.Path.Value, `"`); strings.HasPrefix(d, module) && !slices.Contains(g[pkg], d[len(module):]) {
				g[pkg] = append(g[pkg], d[len(module):])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestImportsGoDown(t *testing.T) {
	g := imports(t)
	if len(g) < 20 {
		t.Fatalf("go list found %d packages: %v", len(g), g)
	}
	for pkg, deps := range g {
		if pkg == "internal/layering" {
			continue
		}
		l := layerOf(pkg)
		if l < 0 {
			t.Errorf("%s is in no layer: place it in layers", pkg)
			continue
		}
		for _, d := range deps {
			if ld := layerOf(d); ld >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must go down", pkg, l, d, ld)
			}
		}
	}
}

func TestReadersLinkNoEngine(t *testing.T) {
	g := imports(t)
	for _, r := range readers {
		if _, ok := g[r]; !ok {
			t.Fatalf("reader %s is not a package", r)
		}
		// every package r links, and through which import
		seen, queue := map[string]string{r: ""}, []string{r}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, d := range g[p] {
				if _, ok := seen[d]; !ok {
					seen[d] = p
					queue = append(queue, d)
				}
			}
		}
		for p, via := range seen {
			if p != r && matches(p, engine) {
				t.Errorf("%s links %s (through %s): readers of result files must not link the engine", r, p, via)
			}
		}
	}
}

// The rules can fail: an import up a layer and an engine package reached
// through a light one are both caught.
func TestRulesCatchCrossings(t *testing.T) {
	if l, ld := layerOf("methods"), layerOf("run"); ld <= l {
		t.Fatalf("methods at %d, run at %d", l, ld)
	}
	if layerOf("nn/device") != 0 || layerOf("nn") != 2 || layerOf("nnx") != -1 {
		t.Errorf("layers of nn/device, nn, nnx: %d %d %d (want 0, 2, -1)", layerOf("nn/device"), layerOf("nn"), layerOf("nnx"))
	}
	if !matches("nn/device", engine) || matches("methods/display", engine) {
		t.Error("engine patterns: nn/device must match, methods/display must not")
	}
}
