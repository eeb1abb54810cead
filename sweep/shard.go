package sweep

import (
	"fmt"
	"strconv"
)

// A Shard is the part i of n (0 ≤ i < n) of a sweep's trials one process
// runs: trials whose position in the spec's expansion is i modulo n.
type Shard struct {
	I, N int
	// From says where it came from: "--shard", "SLURM_ARRAY_TASK_ID", ...
	From string
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// ParseShard reads "i/n".
func ParseShard(v string) (Shard, error) {
	var s Shard
	if _, err := fmt.Sscanf(v, "%d/%d", &s.I, &s.N); err != nil || s.N < 1 || s.I < 0 || s.I >= s.N || fmt.Sprintf("%d/%d", s.I, s.N) != v {
		return Shard{}, fmt.Errorf("shard %q: want i/n with 0 ≤ i < n", v)
	}
	return s, nil
}

// Environment variables a scheduler sets for each task of an array job.
const (
	// Slurm job arrays (sbatch --array): the task's id, and the array's
	// count or its bounds and step.
	EnvSlurmTaskID = "SLURM_ARRAY_TASK_ID"
	EnvSlurmCount  = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmMin    = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmMax    = "SLURM_ARRAY_TASK_MAX"
	EnvSlurmStep   = "SLURM_ARRAY_TASK_STEP"
	// Kubernetes Indexed Jobs: the pod's completion index; the number of
	// completions is not in the pod's environment, so it comes from
	// EnvShards (or a flag).
	EnvK8sIndex = "JOB_COMPLETION_INDEX"
	EnvShards   = "PEFTBENCH_SHARDS"
)

// ShardFromEnv finds the shard a scheduler gave this process: from a Slurm
// job array (SLURM_ARRAY_TASK_ID as the shard of count shards when count
// is positive, else its position in the array by SLURM_ARRAY_TASK_COUNT or
// the array's min, max and step), or from a Kubernetes Indexed Job
// (JOB_COMPLETION_INDEX, with the count from count when it is positive,
// else PEFTBENCH_SHARDS). ok is false when neither scheduler is present.
func ShardFromEnv(getenv func(string) string, count int) (s Shard, ok bool, err error) {
	num := func(name string) (int, error) {
		v, err := strconv.Atoi(getenv(name))
		if err != nil {
			return 0, fmt.Errorf("sweep: %s=%q is not an integer", name, getenv(name))
		}
		return v, nil
	}
	switch {
	case getenv(EnvSlurmTaskID) != "":
		id, err := num(EnvSlurmTaskID)
		if err != nil {
			return Shard{}, true, err
		}
		s = Shard{From: EnvSlurmTaskID}
		if count > 0 { // task ids are shard numbers: a resubmission of some shards (--array=2) keeps them
			s.I, s.N = id, count
		} else if getenv(EnvSlurmMin) != "" && getenv(EnvSlurmMax) != "" {
			lo, err1 := num(EnvSlurmMin)
			hi, err2 := num(EnvSlurmMax)
			step := 1
			var err3 error
			if getenv(EnvSlurmStep) != "" {
				step, err3 = num(EnvSlurmStep)
			}
			if err := firstErr(err1, err2, err3); err != nil {
				return Shard{}, true, err
			}
			if step < 1 || hi < lo || (id-lo)%step != 0 {
				return Shard{}, true, fmt.Errorf("sweep: Slurm array task %d is not in %d-%d:%d", id, lo, hi, step)
			}
			s.I, s.N = (id-lo)/step, (hi-lo)/step+1
		} else {
			if s.N, err = num(EnvSlurmCount); err != nil {
				return Shard{}, true, fmt.Errorf("%w (%s is set, so its array's count or bounds must be too)", err, EnvSlurmTaskID)
			}
			s.I = id
		}
	case getenv(EnvK8sIndex) != "":
		if s.I, err = num(EnvK8sIndex); err != nil {
			return Shard{}, true, err
		}
		s.From, s.N = EnvK8sIndex, count
		if s.N <= 0 {
			if getenv(EnvShards) == "" {
				return Shard{}, true, fmt.Errorf("sweep: %s is set but the number of shards is not: set %s (the Job's completions) or pass the count", EnvK8sIndex, EnvShards)
			}
			if s.N, err = num(EnvShards); err != nil {
				return Shard{}, true, err
			}
		}
	default:
		return Shard{}, false, nil
	}
	if s.N < 1 || s.I < 0 || s.I >= s.N {
		return Shard{}, true, fmt.Errorf("sweep: shard %d of %d from %s is out of range", s.I, s.N, s.From)
	}
	return s, true, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
