package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
)

// buildViewer writes the fixture's report and returns its viewer's path.
func buildViewer(t *testing.T) (string, []*trial.Result) {
	t.Helper()
	out := t.TempDir()
	if _, err := Build("testdata/sweep", Options{Out: out}); err != nil {
		t.Fatal(err)
	}
	rs, err := trial.ReadAll("testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, ViewerFile), rs
}

var dataLine = regexp.MustCompile(`(?m)^const DATA = (.*);$`)

func TestViewerIsSelfContained(t *testing.T) {
	path, rs := buildViewer(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, external := range []string{`src="http`, `href="http`, `<link `, `src="//`, `import(`} {
		if strings.Contains(page, external) {
			t.Errorf("the viewer loads something from outside the file: %q", external)
		}
	}
	if !strings.Contains(page, "Chart.js v"+chartVersion()) || !strings.Contains(page, "Permission is hereby granted") {
		t.Error("the viewer lacks the embedded chart.js of the pinned version or its licence")
	}
	m := dataLine.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no DATA in the viewer")
	}
	var d viewerData
	if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
		t.Fatal(err)
	}
	want := Configurations(rs)
	if len(d.Configs) != len(want) || len(want) == 0 {
		t.Fatalf("viewer has %d configurations, the report %d", len(d.Configs), len(want))
	}
	for i, c := range d.Configs {
		if c.Task != want[i].Task || c.Method != want[i].Method || *c.Test != want[i].TestMean || c.Chosen != want[i].Chosen {
			t.Errorf("configuration %d: %+v, report %+v", i, c, want[i])
		}
	}
}

// chromium finds a headless browser, skipping the test without one unless
// PEFTBENCH_REQUIRE_CHROMIUM is set (as CI does).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PEFTBENCH_REQUIRE_CHROMIUM") != "" {
		t.Fatal("PEFTBENCH_REQUIRE_CHROMIUM is set and no chromium is installed (Debian's chromium)")
	}
	t.Skip("no chromium: the viewer's browser test needs Debian's chromium")
	return ""
}

// dumpDOM loads url in headless Chromium and returns the page as its
// scripts left it, and the browser's log lines from the page's console.
func dumpDOM(t *testing.T, browser, url string) (string, []string) {
	t.Helper()
	cmd := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	var console []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") { // every console message, errors and uncaught exceptions included
			console = append(console, l)
		}
	}
	return stdout.String(), console
}

var configRow = regexp.MustCompile(`<tr [^>]*data-config="`)

// TestViewerInChromium opens the viewer in headless Chromium: it loads
// without console messages or errors, shows every configuration, and
// filtering (a change on the task filter, and a filter in the address)
// shows exactly the configurations it should.
func TestViewerInChromium(t *testing.T) {
	browser := chromium(t)
	path, rs := buildViewer(t)
	want := Configurations(rs)
	byTask := map[string]int{}
	for _, c := range want {
		byTask[c.Task]++
	}
	url := "file://" + path

	dom, console := dumpDOM(t, browser, url+"#selftest=1")
	if len(console) > 0 {
		t.Errorf("console output while loading:\n%s", strings.Join(console, "\n"))
	}
	if strings.Contains(dom, "data-errors=") {
		t.Error("the page caught an error")
	}
	m := regexp.MustCompile(`<pre id="selftest">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no self-test output in the page:\n%.2000s", dom)
	}
	var st struct {
		Total, Before, After int
		Steps                []struct {
			Task               string
			Rows, Want, Pareto int
		}
		Errors []string
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(m[1], "&quot;", `"`)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Total != len(want) || st.Before != len(want) || st.After != len(want) || len(st.Errors) > 0 {
		t.Errorf("self-test %+v: want every one of %d configurations before and after, no errors", st, len(want))
	}
	if len(st.Steps) != len(byTask) {
		t.Errorf("self-test filtered on %d tasks, the results have %d", len(st.Steps), len(byTask))
	}
	for _, s := range st.Steps {
		if s.Rows != byTask[s.Task] || s.Rows >= len(want) || s.Pareto == 0 {
			t.Errorf("filtered on task %s: %d rows shown (the page expected %d), %d configurations there; %d Pareto datasets", s.Task, s.Rows, s.Want, byTask[s.Task], s.Pareto)
		}
	}

	// The rows in the page itself, unfiltered and filtered from the address.
	dom, _ = dumpDOM(t, browser, url)
	if n := len(configRow.FindAllString(dom, -1)); n != len(want) {
		t.Errorf("unfiltered page shows %d configurations, want %d", n, len(want))
	}
	dom, _ = dumpDOM(t, browser, url+"#task=spam&chosen=1")
	chosen := 0
	for _, c := range want {
		if c.Task == "spam" && c.Chosen {
			chosen++
		}
	}
	if n := len(configRow.FindAllString(dom, -1)); n != chosen || chosen == 0 {
		t.Errorf("filtered on spam, chosen only: %d rows, want %d", n, chosen)
	}
}

// A report of one seed per configuration does not speak of two seeds'
// intervals; one of two seeds gives Student's t for two.
func TestSeedNote(t *testing.T) {
	rs, err := trial.ReadAll("testdata/sweep")
	if err != nil {
		t.Fatal(err)
	}
	one := t.TempDir()
	for _, r := range rs {
		if r.Spec.Seed == 1 {
			if err := r.Write(one); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		dir, want, not string
	}{
		{one, "ran on one seed", "t = 12.7"},
		{"testdata/sweep", "t = 12.7 for 2 seeds", "ran on one seed"},
	} {
		readme, err := Build(c.dir, Options{Out: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(readme)
		if !strings.Contains(string(b), c.want) || strings.Contains(string(b), c.not) {
			t.Errorf("%s: the summary should say %q and not %q", c.dir, c.want, c.not)
		}
	}
}
