// Package tensorboard writes trials' training curves as TensorBoard event
// files, which `tensorboard --logdir DIR` reads: one run (folder) per
// trial, named by task, configuration, data size and seed. A file is a
// sequence of TFRecords (a little-endian length, its masked CRC-32C, the
// data, its masked CRC-32C), each an Event protocol buffer: first the file
// version, then scalar summaries by step.
package tensorboard

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/trial"
	"google.golang.org/protobuf/encoding/protowire"
)

// FileName is every run's event file: TensorBoard reads any file whose
// name holds "tfevents"; a fixed name lets a rewrite replace the last.
const FileName = "events.out.tfevents.0.peftbench"

// FileVersion is the version string an event file opens with.
const FileVersion = "brain.Event:2"

// The scalar tags a run holds.
const (
	TagLoss         = "train/loss"
	TagLR           = "train/learning_rate"
	TagGradNorm     = "train/grad_norm"
	TagTokensPerSec = "train/tokens_per_sec"
	TagEpochLoss    = "train/epoch_loss" // at each epoch's last step
	TagValid        = "eval/valid_accuracy"
	TagTest         = "eval/test_accuracy" // at the last step
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC is TFRecord's masked CRC-32C of b.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// Scalar is one value of one tag at a step.
type Scalar struct {
	Tag   string
	Value float32
}

// Event encodes an Event message: wall_time (1), step (2) and either the
// file version (3) or a summary (5) of simple values (Summary.value = 1,
// Value.tag = 1, Value.simple_value = 2).
func Event(wallTime float64, step int64, fileVersion string, scalars []Scalar) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wallTime))
	if step != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(step))
	}
	if fileVersion != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, fileVersion)
	}
	if len(scalars) > 0 {
		var summary []byte
		for _, s := range scalars {
			var v []byte
			v = protowire.AppendTag(v, 1, protowire.BytesType)
			v = protowire.AppendString(v, s.Tag)
			v = protowire.AppendTag(v, 2, protowire.Fixed32Type)
			v = protowire.AppendFixed32(v, math.Float32bits(s.Value))
			summary = protowire.AppendTag(summary, 1, protowire.BytesType)
			summary = protowire.AppendBytes(summary, v)
		}
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, summary)
	}
	return b
}

// AppendRecord frames data as one TFRecord.
func AppendRecord(buf *bytes.Buffer, data []byte) {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], MaskedCRC(head[:8]))
	buf.Write(head[:])
	buf.Write(data)
	var foot [4]byte
	binary.LittleEndian.PutUint32(foot[:], MaskedCRC(data))
	buf.Write(foot[:])
}

// Run is the event file of one trial: its step log's scalars by step, the
// epoch losses at each epoch's last step, and the accuracies at the last
// step. Wall times are the training seconds the step log records.
func Run(r *trial.Result) []byte {
	var buf bytes.Buffer
	AppendRecord(&buf, Event(0, 0, FileVersion, nil))
	lastOfEpoch := map[int]int{} // epoch -> index of its last logged step
	for i, p := range r.StepLog {
		lastOfEpoch[p.Epoch] = i
	}
	for i, p := range r.StepLog {
		sc := []Scalar{{TagLoss, float32(p.Loss)}, {TagLR, float32(p.LR)}, {TagGradNorm, float32(p.GradNorm)}, {TagTokensPerSec, float32(p.TokensPerSec)}}
		if lastOfEpoch[p.Epoch] == i && p.Epoch >= 1 && p.Epoch <= len(r.Metrics.EpochLoss) {
			sc = append(sc, Scalar{TagEpochLoss, float32(r.Metrics.EpochLoss[p.Epoch-1])})
		}
		if i == len(r.StepLog)-1 {
			if v := r.Metrics.ValidAccuracy; v != nil {
				sc = append(sc, Scalar{TagValid, float32(*v)})
			}
			sc = append(sc, Scalar{TagTest, float32(r.Metrics.TestAccuracy)})
		}
		AppendRecord(&buf, Event(p.Time, int64(p.Step), "", sc))
	}
	return buf.Bytes()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.=,+-]+`)

// RunDir is a trial's run folder under dir: task/configuration/n=size/
// seed=s-id, so that TensorBoard's run filter can pick a task, a method or
// a data size.
func RunDir(dir string, r *trial.Result) string {
	s := r.Spec
	name := s.Name
	if name == "" {
		name = s.Method
	}
	size := "all"
	if s.DataSize > 0 {
		size = fmt.Sprint(s.DataSize)
	}
	clean := func(x string) string { return unsafeName.ReplaceAllString(x, "_") }
	task := filepath.Base(s.Task) // a user task's file: its name
	task = strings.TrimSuffix(task, filepath.Ext(task))
	return filepath.Join(dir, clean(task), clean(name), "n="+size, fmt.Sprintf("seed=%d-%s", s.Seed, r.ID))
}

// Write writes the event file of every result with a step log under dir
// and returns how many it wrote.
func Write(dir string, results []*trial.Result) (int, error) {
	n := 0
	for _, r := range results {
		if len(r.StepLog) == 0 {
			continue
		}
		run := RunDir(dir, r)
		if err := os.MkdirAll(run, 0o755); err != nil {
			return n, err
		}
		if err := atomicfile.Write(filepath.Join(run, FileName), Run(r)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
