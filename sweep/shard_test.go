package sweep

import (
	"strings"
	"testing"
)

func TestShardFromEnv(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   map[string]string
		count int
		want  string // "i/n", "" for none, or "error: ..." (a substring)
	}{
		{"no scheduler", nil, 0, ""},
		{"slurm count", map[string]string{EnvSlurmTaskID: "2", EnvSlurmCount: "4"}, 0, "2/4"},
		{"slurm bounds from 1", map[string]string{EnvSlurmTaskID: "4", EnvSlurmMin: "1", EnvSlurmMax: "4", EnvSlurmCount: "4"}, 0, "3/4"},
		{"slurm step", map[string]string{EnvSlurmTaskID: "6", EnvSlurmMin: "0", EnvSlurmMax: "6", EnvSlurmStep: "2"}, 0, "3/4"},
		{"slurm off the step", map[string]string{EnvSlurmTaskID: "3", EnvSlurmMin: "0", EnvSlurmMax: "6", EnvSlurmStep: "2"}, 0, "error: not in 0-6:2"},
		{"slurm without count", map[string]string{EnvSlurmTaskID: "1"}, 0, "error: SLURM_ARRAY_TASK_COUNT"},
		{"slurm id beyond count", map[string]string{EnvSlurmTaskID: "4", EnvSlurmCount: "4"}, 0, "error: out of range"},
		{"slurm garbage", map[string]string{EnvSlurmTaskID: "x", EnvSlurmCount: "4"}, 0, `error: SLURM_ARRAY_TASK_ID="x"`},
		{"k8s with variable", map[string]string{EnvK8sIndex: "0", EnvShards: "3"}, 0, "0/3"},
		{"k8s with count", map[string]string{EnvK8sIndex: "2", EnvShards: "9"}, 3, "2/3"},
		{"k8s without count", map[string]string{EnvK8sIndex: "2"}, 0, "error: PEFTBENCH_SHARDS"},
		{"slurm id as shard of count", map[string]string{EnvSlurmTaskID: "2", EnvSlurmMin: "2", EnvSlurmMax: "2", EnvSlurmCount: "1"}, 4, "2/4"},
		{"slurm id beyond the given count", map[string]string{EnvSlurmTaskID: "4", EnvSlurmCount: "5"}, 4, "error: out of range"},
		{"slurm wins over k8s", map[string]string{EnvSlurmTaskID: "1", EnvSlurmCount: "2", EnvK8sIndex: "0", EnvShards: "5"}, 0, "1/2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, ok, err := ShardFromEnv(func(k string) string { return c.env[k] }, c.count)
			switch {
			case strings.HasPrefix(c.want, "error: "):
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "error: ")) {
					t.Fatalf("got %v, %v; want an error containing %q", s, err, strings.TrimPrefix(c.want, "error: "))
				}
			case c.want == "":
				if ok || err != nil {
					t.Fatalf("got %v, %v, %v; want no shard", s, ok, err)
				}
			default:
				if err != nil || !ok || s.String() != c.want {
					t.Fatalf("got %v (ok %v, %v); want %s", s, ok, err, c.want)
				}
			}
		})
	}
	for _, bad := range []string{"1/1x", "2/2", "-1/3", "a/b", "1"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if s, err := ParseShard("1/3"); err != nil || s.I != 1 || s.N != 3 {
		t.Errorf("ParseShard(1/3) = %v, %v", s, err)
	}
}
