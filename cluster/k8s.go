package cluster

import (
	"bytes"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// K8s is a Kubernetes rendering of a job: an image holding the repository
// at Job.Dir and the harness, a PersistentVolumeClaim mounted at
// MountPath that every pod shares (Job.Out lies on it), and each pod's
// resources.
type K8s struct {
	Image     string
	Claim     string // the PersistentVolumeClaim of the results
	MountPath string
	CPU       string // per pod, e.g. "2"
	Memory    string // per pod, e.g. "8Gi"
	// RetriesPerShard is backoffLimitPerIndex: a failed shard's pod is
	// retried this often before its index counts as failed; a retry skips
	// the shard's finished trials.
	RetriesPerShard int32
}

// Manifests returns two Kubernetes objects as one YAML stream: an Indexed
// Job with one completion index per shard (each pod's sweep reads its
// shard from JOB_COMPLETION_INDEX, the count from its --shard-count), and
// a report Job that waits until `harness status` finds no trial missing,
// then writes the report into the results folder.
func (k K8s) Manifests(j Job) ([]byte, error) {
	if err := j.check(); err != nil {
		return nil, err
	}
	if k.Image == "" || k.Claim == "" || k.MountPath == "" {
		return nil, fmt.Errorf("cluster: a Kubernetes job needs an image, a volume claim and a mount path")
	}
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: k.CPU, corev1.ResourceMemory: k.Memory} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("cluster: %s %q: %w", name, v, err)
		}
		res.Requests[name] = q
	}
	shards := int32(j.Shards)
	pod := func(name, script string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: name, Image: k.Image, WorkingDir: j.Dir, Resources: res,
				Command:      []string{"/bin/sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "results", MountPath: k.MountPath}},
			}},
			Volumes: []corev1.Volume{{Name: "results", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: k.Claim}}}},
		}}
	}
	indexed := batchv1.IndexedCompletion
	retries := k.RetriesPerShard
	shardsJob := batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: j.jobName("-shards")},
		Spec: batchv1.JobSpec{
			CompletionMode: &indexed, Completions: &shards, Parallelism: &shards,
			BackoffLimitPerIndex: &retries, MaxFailedIndexes: &shards,
			Template: pod("sweep", "exec "+j.sweepArgs()),
		},
	}
	wait := fmt.Sprintf("until %s status %s --out %s --fail-missing >/dev/null; do sleep 60; done; exec %s",
		j.Harness, shellQuote(j.Spec), shellQuote(j.Out), j.reportArgs())
	none := int32(0)
	reportJob := batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: j.jobName("-report")},
		Spec:       batchv1.JobSpec{BackoffLimit: &none, Template: pod("report", wait)},
	}
	var out bytes.Buffer
	for i, obj := range []any{shardsJob, reportJob} {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}
