package bench

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/peftbench/peftbench/model"
)

//go:embed peer/peer.py
var peerScript []byte

// ErrNoPeer means the peer cannot run here (no Python, or no torch); its
// message says what is missing.
var ErrNoPeer = errors.New("bench: PyTorch peer unavailable")

// peerCase is one case as peer.py reads it.
type peerCase struct {
	Name        string         `json:"name"`
	Model       model.Config   `json:"model"`
	Batch       int            `json:"batch"`
	Length      int            `json:"length"`
	LR          float64        `json:"lr"`
	WeightDecay float64        `json:"weight_decay"`
	Seed        int            `json:"seed"`
	Warmup      int            `json:"warmup"`
	Steps       int            `json:"steps"`
	Threads     int            `json:"threads"`
	LoRA        map[string]any `json:"lora,omitempty"`
}

// peerLine is one line peer.py prints.
type peerLine struct {
	Name         string  `json:"name"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	MsPerStep    float64 `json:"ms_per_step"`
	Trainable    int     `json:"trainable_params"`
	Torch        string  `json:"torch"`
	Threads      int     `json:"threads"`
	Error        string  `json:"error"`
}

// Peer runs every setup's case once in PyTorch with python, using up to
// threads threads (the peer keeps the fastest count, probed per case), and
// reports each against gflops. The peer builds the identical model and
// step; it cannot load the shipped weights, which do not change the speed.
func Peer(python string, setups []*Setup, warmup, steps, threads int, gflops float64) ([]Result, string, error) {
	var in []peerCase
	for _, s := range setups {
		c := s.Case
		pc := peerCase{Name: c.Name, Model: s.Config, Batch: c.Batch, Length: c.Length, LR: LR, WeightDecay: WeightDecay,
			Seed: Seed, Warmup: warmup, Steps: steps, Threads: threads}
		if c.Method == "lora" {
			pc.LoRA = map[string]any{"rank": c.Params["rank"], "alpha": c.Params["alpha"], "targets": strings.Split(fmt.Sprint(c.Params["targets"]), ",")}
		} else if c.Method != "full" {
			return nil, "", fmt.Errorf("bench: the peer implements full fine-tuning and LoRA, not %q", c.Method)
		}
		in = append(in, pc)
	}
	dir, err := os.MkdirTemp("", "peftbench-peer")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(script, peerScript, 0o644); err != nil {
		return nil, "", err
	}
	body, _ := json.Marshal(in)
	cmd := exec.Command(python, script)
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, "", fmt.Errorf("%w: %s not found", ErrNoPeer, python)
	}
	var results []Result
	version := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for i := 0; sc.Scan(); i++ {
		var l peerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, "", fmt.Errorf("bench: peer printed %q: %w", sc.Text(), err)
		}
		if l.Error != "" {
			return nil, "", fmt.Errorf("%w: %s", ErrNoPeer, l.Error)
		}
		if i >= len(setups) || l.Name != setups[i].Case.Name {
			return nil, "", fmt.Errorf("bench: peer answered %q out of order", l.Name)
		}
		s := setups[i]
		if l.Trainable != s.trained {
			return nil, "", fmt.Errorf("bench: %s: the peer trains %d parameters, peftbench %d: the models differ", l.Name, l.Trainable, s.trained)
		}
		version = fmt.Sprintf("torch %s", l.Torch)
		results = append(results, Result{Case: l.Name, Engine: "pytorch", TokensPerSec: l.TokensPerSec, MsPerStep: l.MsPerStep,
			MFU: mfu(l.TokensPerSec, s.flops, gflops), AllocPerStep: -1, WeightBytes: s.weights, TrainableParams: l.Trainable,
			FLOPsPerToken: s.flops, Threads: l.Threads})
	}
	if err != nil {
		return nil, "", fmt.Errorf("bench: peer failed: %v: %s", err, lastLines(stderr.String(), 10))
	}
	if len(results) != len(setups) {
		return nil, "", fmt.Errorf("bench: peer answered %d of %d cases: %s", len(results), len(setups), lastLines(stderr.String(), 10))
	}
	return results, version, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
