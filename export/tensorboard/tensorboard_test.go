package tensorboard

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/trial"
	"google.golang.org/protobuf/encoding/protowire"
)

// masked is TFRecord's mask written out from its definition, to hold
// MaskedCRC to it: rotate right by 15 bits, add a constant.
func masked(b []byte) uint32 {
	c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return (c>>15 | c<<17) + 0xa282ead8
}

func TestCRC32C(t *testing.T) {
	// The CRC-32C check value (RFC 3720, B.4).
	if c := crc32.Checksum([]byte("123456789"), castagnoli); c != 0xe3069283 {
		t.Fatalf("crc32c(123456789) = %#x", c)
	}
	if MaskedCRC([]byte("123456789")) != masked([]byte("123456789")) {
		t.Fatal("mask")
	}
}

// records splits a TFRecord file, checking both CRCs of each record.
func records(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 16 {
			return nil, errors.New("truncated record")
		}
		n := binary.LittleEndian.Uint64(b[:8])
		if binary.LittleEndian.Uint32(b[8:12]) != masked(b[:8]) {
			return nil, errors.New("length CRC")
		}
		if uint64(len(b)) < 16+n {
			return nil, errors.New("truncated data")
		}
		data := b[12 : 12+n]
		if binary.LittleEndian.Uint32(b[12+n:16+n]) != masked(data) {
			return nil, errors.New("data CRC")
		}
		out = append(out, data)
		b = b[16+n:]
	}
	return out, nil
}

type event struct {
	wall    float64
	step    int64
	version string
	values  map[string]float32
}

// decode reads an Event with the wire format alone.
func decode(t *testing.T, b []byte) event {
	t.Helper()
	e := event{values: map[string]float32{}}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			e.wall, b = math.Float64frombits(v), b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			e.step, b = int64(v), b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			e.version, b = v, b[n:]
		case num == 5 && typ == protowire.BytesType:
			summary, n := protowire.ConsumeBytes(b)
			b = b[n:]
			for len(summary) > 0 {
				_, _, n := protowire.ConsumeTag(summary)
				value, m := protowire.ConsumeBytes(summary[n:])
				summary = summary[n+m:]
				var tag string
				var x float32
				for len(value) > 0 {
					num, _, n := protowire.ConsumeTag(value)
					value = value[n:]
					if num == 1 {
						s, n := protowire.ConsumeString(value)
						tag, value = s, value[n:]
					} else {
						v, n := protowire.ConsumeFixed32(value)
						x, value = math.Float32frombits(v), value[n:]
					}
				}
				e.values[tag] = x
			}
		default:
			t.Fatalf("unexpected field %d type %d", num, typ)
		}
	}
	return e
}

func result() *trial.Result {
	valid := 0.8
	return &trial.Result{ID: "0123abcd", Status: trial.Success,
		Spec:    trial.Spec{Task: "spam", Method: "lora", Name: "lora rank=4", DataSize: 256, Seed: 2},
		Metrics: trial.Metrics{TestAccuracy: 0.75, ValidAccuracy: &valid, EpochLoss: []float64{0.65, 0.4}},
		StepLog: []trial.StepPoint{
			{Step: 1, Epoch: 1, Loss: 0.7, LR: 1e-4, GradNorm: 3, TokensPerSec: 100, Time: 0.5},
			{Step: 2, Epoch: 1, Loss: 0.6, LR: 2e-4, GradNorm: 2, TokensPerSec: 200, Time: 1.0},
			{Step: 3, Epoch: 2, Loss: 0.4, LR: 1e-4, GradNorm: 1, TokensPerSec: 210, Time: 1.5},
		}}
}

func TestEventFileReadsBack(t *testing.T) {
	r := result()
	dir := t.TempDir()
	n, err := Write(dir, []*trial.Result{r, {ID: "nolog", Status: trial.Success}})
	if err != nil || n != 1 {
		t.Fatalf("wrote %d runs: %v (want 1: a result without a step log has none)", n, err)
	}
	run := RunDir(dir, r)
	if want := filepath.Join(dir, "spam", "lora_rank=4", "n=256", "seed=2-0123abcd"); run != want {
		t.Errorf("run folder %s, want %s", run, want)
	}
	b, err := os.ReadFile(filepath.Join(run, FileName))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := records(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+len(r.StepLog) {
		t.Fatalf("%d records, want the version and %d steps", len(recs), len(r.StepLog))
	}
	if e := decode(t, recs[0]); e.version != FileVersion || len(e.values) != 0 {
		t.Errorf("first event %+v, want the file version alone", e)
	}
	for i, p := range r.StepLog {
		e := decode(t, recs[i+1])
		if e.step != int64(p.Step) || e.wall != p.Time {
			t.Errorf("event %d: step %d at %v, want %d at %v", i, e.step, e.wall, p.Step, p.Time)
		}
		want := map[string]float32{TagLoss: float32(p.Loss), TagLR: float32(p.LR), TagGradNorm: float32(p.GradNorm), TagTokensPerSec: float32(p.TokensPerSec)}
		switch p.Step {
		case 2:
			want[TagEpochLoss] = 0.65
		case 3:
			want[TagEpochLoss], want[TagValid], want[TagTest] = 0.4, 0.8, 0.75
		}
		if len(e.values) != len(want) {
			t.Errorf("step %d: %v, want %v", p.Step, e.values, want)
		}
		for k, v := range want {
			if e.values[k] != v {
				t.Errorf("step %d %s: %v, want %v", p.Step, k, e.values[k], v)
			}
		}
	}
	// A flipped bit is caught by the CRCs.
	for _, at := range []int{3, 20, len(b) - 2} {
		bad := append([]byte(nil), b...)
		bad[at] ^= 1
		if _, err := records(bad); err == nil || !strings.Contains(err.Error(), "CRC") && !strings.Contains(err.Error(), "truncated") {
			t.Errorf("bit %d flipped: %v", at, err)
		}
	}
}
