package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peftbench/peftbench/model"
	"github.com/peftbench/peftbench/nn"
)

// The test binary doubles as a fake peer.py when PEFTBENCH_FAKE_PEER is
// set: it answers each case line as the mode says.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PEFTBENCH_FAKE_PEER"); mode != "" {
		fakePeer(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakePeer(mode string) {
	if mode == "no-torch" {
		fmt.Println(`{"error": "torch is not installed"}`)
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var c peerCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			fmt.Fprintln(os.Stderr, "bad case:", err)
			os.Exit(3)
		}
		trainable := 1088256 // full fine-tuning of tiny
		switch {
		case mode == "wrong-model":
			trainable = 7
		case c.LoRA != nil:
			trainable = 16384
		}
		if mode == "crash" {
			fmt.Fprintln(os.Stderr, "Traceback: something broke")
			os.Exit(1)
		}
		out, _ := json.Marshal(peerLine{Name: c.Name, TokensPerSec: 1000, MsPerStep: float64(c.Batch * c.Length), Trainable: trainable, Torch: "fake", Threads: c.Threads})
		fmt.Println(string(out))
	}
}

func TestPeerProtocol(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var setups []*Setup
	for _, c := range Cases()[:2] { // tiny: full, lora
		s, err := Prepare(c)
		if err != nil {
			t.Fatal(err)
		}
		setups = append(setups, s)
	}
	run := func(mode string) ([]Result, error) {
		t.Setenv("PEFTBENCH_FAKE_PEER", mode)
		p, err := StartPeer(exe, 2, 100)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		var out []Result
		for range 2 { // two rounds: the peer keeps answering
			for _, s := range setups {
				r, err := p.Measure(s, 1, 3)
				if err != nil {
					return out, err
				}
				out = append(out, r)
			}
		}
		return out, nil
	}
	res, err := run("ok")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || res[1].Case != "tiny/lora-r8" || res[1].Engine != "pytorch" || res[1].TokensPerSec != 1000 ||
		res[0].MsPerStep != 8*256 || res[0].MFU <= 0 || res[0].AllocPerStep != -1 || res[0].PeakHeapBytes != -1 || res[0].Threads != 2 {
		t.Fatalf("results %+v", res)
	}
	if _, err := run("no-torch"); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("without torch: %v, want ErrNoPeer", err)
	}
	if _, err := run("wrong-model"); err == nil || !strings.Contains(err.Error(), "the models differ") {
		t.Fatalf("a peer training another model: %v", err)
	}
	if _, err := run("crash"); err == nil || !strings.Contains(err.Error(), "something broke") {
		t.Fatalf("a crashing peer: %v", err)
	}
	if _, err := StartPeer("/nonexistent/python3", 1, 1); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("missing interpreter: %v, want ErrNoPeer", err)
	}
}

// TestPeerModelJSON checks that the peer is told the Llama family's
// fields, which model.Config's own JSON leaves out.
func TestPeerModelJSON(t *testing.T) {
	pm, err := newPeerModel(SmolLM2)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(pm)
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"family": "llama", "n_kv_head": 3.0, "norm_eps": 1e-5, "rope_theta": 1e5, "untied_head": false,
		"qkv_bias": false, "n_embd": 576.0, "n_layer": 30.0, "n_head": 9.0, "n_inner": 1536.0, "vocab_size": 49152.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v (all: %s)", k, got[k], v, body)
		}
	}
	if pm, _ := newPeerModel(FieldNotes); pm.Family != "gpt2" || pm.KVHeads != 4 || pm.NormEps != 1e-5 {
		t.Errorf("GPT-2: %+v", pm)
	}
}

// TestPeerComputesTheSameLoss runs the real peer.py (skipped where torch is
// not installed) on small models of both families, with peftbench's
// weights loaded into it, and checks that it trains as many parameters and
// computes the same loss on the same batch as peftbench. At their
// initialisation (weights of 0.02, norm gains one, biases and LoRA's B
// zero) the logits are nearly flat and the loss ln(vocab) whatever the
// blocks compute, so every weight is moved at random first.
func TestPeerComputesTheSameLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python and torch")
	}
	gpt2 := model.Config{Vocab: 64, Context: 16, DModel: 32, Layers: 2, Heads: 4, DFF: 64}
	llama := model.Config{Family: model.Llama, Vocab: 64, Context: 16, DModel: 32, Layers: 2, Heads: 4, KVHeads: 2, DFF: 48,
		NormEps: 1e-5, RopeTheta: 10000}
	qwen := llama
	qwen.UntiedHead, qwen.QKVBias, qwen.KVHeads, qwen.NormEps = true, true, 1, 1e-6
	lora := map[string]any{"rank": 4, "alpha": 8.0, "dropout": 0.0, "targets": "q,v"}
	p, err := StartPeer("/usr/bin/python3", 1, 1)
	if errors.Is(err, ErrNoPeer) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, c := range []Case{
		{Name: "gpt2/full", Config: gpt2, Method: "full", Params: map[string]any{}},
		{Name: "gpt2/lora", Config: gpt2, Method: "lora", Params: lora},
		{Name: "llama/full", Config: llama, Method: "full", Params: map[string]any{}},
		{Name: "llama/lora", Config: llama, Method: "lora", Params: lora},
		{Name: "untied-qkv-bias/lora", Config: qwen, Method: "lora", Params: lora},
	} {
		c.Batch, c.Length = 2, 8
		s, err := Prepare(c)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		params := dedupe(append(append([]*nn.Param{}, s.Trainer.Model.Params...), s.own...))
		for _, p := range params {
			d := p.Value.Data().([]float32)
			for i := range d {
				d[i] += float32(0.2 * rng.NormFloat64())
			}
		}
		dir := t.TempDir()
		if err := writeWeights(dir, params); err != nil {
			t.Fatal(err)
		}
		b := s.batches[0]
		want, err := s.Trainer.Step(b)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := p.peerCase(s, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		pc.Weights, pc.CheckBatch = dir, &peerBatch{IDs: b.IDs, Targets: b.Targets}
		l, err := p.ask(pc, s)
		if errors.Is(err, ErrNoPeer) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(l.InitialLoss-want) > 1e-5*want || math.Abs(want-math.Log(float64(c.Config.Vocab))) < 0.1 {
			t.Errorf("%s: the peer's loss is %.6f, peftbench's %.6f", c.Name, l.InitialLoss, want)
		}
		if l.PeakRSS <= 0 {
			t.Errorf("%s: the peer reports a peak resident set of %d bytes", c.Name, l.PeakRSS)
		}
		t.Logf("%s: loss %.6f (peftbench %.6f), %d trainable", c.Name, l.InitialLoss, want, l.Trainable)
	}
}

// dedupe drops repeated parameters: full fine-tuning's own weights are
// the model's.
func dedupe(params []*nn.Param) []*nn.Param {
	var out []*nn.Param
	seen := map[*nn.Param]bool{}
	for _, p := range params {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// writeWeights writes params as peer.py's load_weights reads them:
// index.json lists [name, shape] pairs, name.bin holds little-endian
// float32 values.
func writeWeights(dir string, params []*nn.Param) error {
	var index [][2]any
	for _, p := range params {
		index = append(index, [2]any{p.Name, []int(p.Value.Shape())})
		var buf bytes.Buffer
		if err := binary.Write(&buf, binary.LittleEndian, p.Value.Data().([]float32)); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, p.Name+".bin"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	body, err := json.Marshal(index)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), body, 0o644)
}
