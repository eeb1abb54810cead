package cluster

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"
)

func testJob() Job {
	return Job{Name: "Paper Sweep", Spec: "sweeps/paper.yaml", Out: "/results/paper", Dir: "/peftbench", Shards: 4, Workers: 2, Harness: "harness"}
}

// The manifest parses back into two batch/v1 Jobs with the fields an
// Indexed Job of shards needs.
func TestK8sManifests(t *testing.T) {
	k := K8s{Image: "registry.example/peftbench:1", Claim: "results", MountPath: "/results", CPU: "2", Memory: "8Gi", RetriesPerShard: 2}
	b, err := k.Manifests(testJob())
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(b, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2:\n%s", len(docs), b)
	}
	var shards, report batchv1.Job
	if err := yaml.UnmarshalStrict(docs[0], &shards); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(docs[1], &report); err != nil {
		t.Fatal(err)
	}
	s := shards.Spec
	if shards.Kind != "Job" || shards.APIVersion != "batch/v1" || shards.Name != "peftbench-paper-sweep-shards" ||
		s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion || *s.Completions != 4 || *s.Parallelism != 4 ||
		s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex != 2 || s.Template.Spec.RestartPolicy != "Never" {
		t.Fatalf("shards job:\n%s", docs[0])
	}
	c := s.Template.Spec.Containers[0]
	if c.Image != k.Image || c.WorkingDir != "/peftbench" ||
		c.Command[2] != "exec harness sweep sweeps/paper.yaml --out /results/paper --workers 2 --shard-count 4" ||
		c.VolumeMounts[0].MountPath != "/results" || s.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "results" ||
		c.Resources.Requests.Cpu().String() != "2" || c.Resources.Requests.Memory().String() != "8Gi" {
		t.Fatalf("shards container %+v", c)
	}
	rc := report.Spec.Template.Spec.Containers[0]
	if report.Name != "peftbench-paper-sweep-report" || report.Spec.CompletionMode != nil ||
		!strings.HasPrefix(rc.Command[2], "until harness status sweeps/paper.yaml --out /results/paper --fail-missing") ||
		!strings.HasSuffix(rc.Command[2], "exec harness report /results/paper --spec sweeps/paper.yaml") {
		t.Fatalf("report job:\n%s", docs[1])
	}
	if _, err := (K8s{Claim: "r", MountPath: "/r"}).Manifests(testJob()); err == nil {
		t.Error("a manifest without an image")
	}
	if _, err := (K8s{Image: "i", Claim: "r", MountPath: "/r", Memory: "lots"}).Manifests(testJob()); err == nil {
		t.Error("a manifest with a malformed memory request")
	}
}

// The Slurm files ask for one array task per shard and the resources
// given, run the report only after every task succeeded, and are valid
// bash.
func TestSlurmScripts(t *testing.T) {
	j := testJob()
	j.Dir, j.Out = "/shared/peft bench", "results/paper"
	f, err := Slurm{Partition: "cpu", Time: "2:00:00", CPUsPerTask: 4, Mem: "8G"}.Scripts(j)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#SBATCH --array=0-3\n", "#SBATCH --cpus-per-task=4\n", "#SBATCH --partition=cpu\n", "#SBATCH --time=2:00:00\n",
		"#SBATCH --mem=8G\n", "#SBATCH --output=results/paper/slurm/shard-%a.log\n", "cd '/shared/peft bench'\n",
		"exec harness sweep sweeps/paper.yaml --out results/paper --workers 2 --shard-count 4\n"} {
		if !strings.Contains(f.Array, want) {
			t.Errorf("array script lacks %q:\n%s", want, f.Array)
		}
	}
	if !strings.Contains(f.Report, "exec harness report results/paper --spec sweeps/paper.yaml\n") || strings.Contains(f.Report, "--array") {
		t.Errorf("report script:\n%s", f.Report)
	}
	if !strings.Contains(f.Submit, `--dependency=afterok:"$array" results/paper/slurm/report.sbatch`) {
		t.Errorf("submit script:\n%s", f.Submit)
	}
	dir := t.TempDir()
	for name, text := range map[string]string{"array": f.Array, "report": f.Report, "submit": f.Submit} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("bash", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s script is not valid bash: %v\n%s", name, err, out)
		}
	}
	if _, err := (Slurm{}).Scripts(Job{Spec: "s", Out: "o", Harness: "h", Shards: 0, Workers: 1}); err == nil {
		t.Error("zero shards accepted")
	}
}
