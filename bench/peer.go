package bench

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	Model       peerModel      `json:"model"`
	Batch       int            `json:"batch"`
	Length      int            `json:"length"`
	LR          float64        `json:"lr"`
	WeightDecay float64        `json:"weight_decay"`
	Seed        int            `json:"seed"`
	Warmup      int            `json:"warmup"`
	Steps       int            `json:"steps"`
	Threads     int            `json:"threads"`
	LoRA        map[string]any `json:"lora,omitempty"`
	Release     bool           `json:"release,omitempty"` // drop the case once measured
	// Device is "cuda" when the engine trains on a CUDA GPU: the peer
	// then trains there too. PyTorch has no OpenCL, so it stays on the CPU
	// otherwise.
	Device string `json:"device,omitempty"`
	// Weights and CheckBatch are for tests: Weights names a directory of
	// peftbench's weights (index.json and one little-endian float32 file
	// per parameter) that replace the peer's own, and with CheckBatch the
	// peer trains on that batch alone and reports its loss before the
	// first step.
	Weights    string     `json:"weights,omitempty"`
	CheckBatch *peerBatch `json:"check_batch,omitempty"`
}

type peerBatch struct {
	IDs     []int `json:"ids"`
	Targets []int `json:"targets"`
}

// peerModel is the model's config as peer.py reads it: Config's JSON
// (GPT-2's config.json fields) leaves out the Llama family's fields, so
// they travel beside it.
type peerModel struct {
	model.Config
	Family     string  `json:"family"` // "gpt2" or "llama"
	KVHeads    int     `json:"n_kv_head"`
	NormEps    float64 `json:"norm_eps"`
	RopeTheta  float64 `json:"rope_theta"`
	UntiedHead bool    `json:"untied_head"`
	QKVBias    bool    `json:"qkv_bias"`
}

func newPeerModel(c model.Config) (peerModel, error) {
	if c.RopeScaling != nil {
		return peerModel{}, fmt.Errorf("bench: the peer does not implement rope_scaling")
	}
	eps := c.NormEps
	if eps == 0 { // model.Config's default
		eps = 1e-5
	}
	return peerModel{Config: c, Family: c.Family.String(), KVHeads: c.KV(), NormEps: eps, RopeTheta: c.RopeTheta,
		UntiedHead: c.UntiedHead, QKVBias: c.QKVBias}, nil
}

// peerLine is one line peer.py prints.
type peerLine struct {
	Name         string  `json:"name"`
	TokensPerSec float64 `json:"tokens_per_sec"`
	MsPerStep    float64 `json:"ms_per_step"`
	Trainable    int     `json:"trainable_params"`
	Torch        string  `json:"torch"`
	Threads      int     `json:"threads"`
	PeakRSS      int64   `json:"peak_rss_bytes"`
	Device       string  `json:"device"`
	InitialLoss  float64 `json:"initial_loss"`
	Error        string  `json:"error"`
}

// Peer is a running PyTorch peer: one Python process that builds each case
// once and measures it whenever asked, so the harness can alternate the
// two engines case by case.
type Peer struct {
	cmd     *exec.Cmd
	in      io.WriteCloser
	out     *bufio.Scanner
	stderr  bytes.Buffer
	waited  bool
	dir     string
	threads int
	peak    float64 // GFLOP/s that MFU is measured against
	// Version is the torch version the peer reported.
	Version string
	// Release asks the peer to drop each case once measured and build it
	// again when next asked for, so that the memory measured while a case
	// runs is its own.
	Release bool
}

// StartPeer starts peer.py with python. The peer may use up to threads
// intra-op threads (it keeps the fastest count, probed once per case);
// MFU is reported against peak GFLOP/s.
func StartPeer(python string, threads int, peak float64) (*Peer, error) {
	dir, err := os.MkdirTemp("", "peftbench-peer")
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(script, peerScript, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &Peer{cmd: exec.Command(python, script), dir: dir, threads: threads, peak: peak}
	p.cmd.Stderr = &p.stderr
	if p.in, err = p.cmd.StdinPipe(); err == nil {
		var out io.Reader
		if out, err = p.cmd.StdoutPipe(); err == nil {
			p.out = bufio.NewScanner(out)
			err = p.cmd.Start()
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s not found", ErrNoPeer, python)
		}
		return nil, err
	}
	return p, nil
}

// Measure trains s's case in PyTorch: warmup steps, then steps timed.
func (p *Peer) Measure(s *Setup, warmup, steps int) (Result, error) {
	pc, err := p.peerCase(s, warmup, steps)
	if err != nil {
		return Result{}, err
	}
	l, err := p.ask(pc, s)
	if err != nil {
		return Result{}, err
	}
	return Result{Case: l.Name, Engine: "pytorch", Device: l.Device, TokensPerSec: l.TokensPerSec, MsPerStep: l.MsPerStep,
		MFU: mfu(l.TokensPerSec, s.flops, p.peak), AllocPerStep: -1, WeightBytes: s.weights, TrainableParams: l.Trainable,
		FLOPsPerToken: s.flops, Threads: l.Threads, PeakHeapBytes: -1, PeakRSSBytes: l.PeakRSS}, nil
}

// peerCase describes s's case to the peer.
func (p *Peer) peerCase(s *Setup, warmup, steps int) (peerCase, error) {
	c := s.Case
	pm, err := newPeerModel(s.Config)
	if err != nil {
		return peerCase{}, err
	}
	pc := peerCase{Name: c.Name, Model: pm, Batch: c.Batch, Length: c.Length, LR: LR, WeightDecay: WeightDecay,
		Seed: Seed, Warmup: warmup, Steps: steps, Threads: p.threads, Release: p.Release}
	if s.Device != nil && s.Device.Kind() == "cuda" {
		pc.Device = "cuda"
	}
	switch c.Method {
	case "full":
	case "lora":
		pc.LoRA = map[string]any{"rank": c.Params["rank"], "alpha": c.Params["alpha"], "targets": strings.Split(fmt.Sprint(c.Params["targets"]), ",")}
	default:
		return peerCase{}, fmt.Errorf("bench: the peer implements full fine-tuning and LoRA, not %q", c.Method)
	}
	return pc, nil
}

// ask sends one case and reads the peer's answer, which must train as
// many parameters as s does.
func (p *Peer) ask(pc peerCase, s *Setup) (peerLine, error) {
	body, _ := json.Marshal(pc)
	_, werr := p.in.Write(append(body, '\n')) // on error, the peer's last words are still on stdout
	if !p.out.Scan() {
		err := p.wait() // the peer has stopped: wait for its stderr to be copied
		if err == nil {
			err = werr
		}
		return peerLine{}, fmt.Errorf("bench: peer stopped (%v): %s", err, lastLines(p.stderr.String(), 10))
	}
	var l peerLine
	if err := json.Unmarshal(p.out.Bytes(), &l); err != nil {
		return peerLine{}, fmt.Errorf("bench: peer printed %q: %w", p.out.Text(), err)
	}
	if l.Error != "" {
		return peerLine{}, fmt.Errorf("%w: %s", ErrNoPeer, l.Error)
	}
	if l.Name != pc.Name {
		return peerLine{}, fmt.Errorf("bench: peer answered %q for %q", l.Name, pc.Name)
	}
	if l.Trainable != s.trained {
		return peerLine{}, fmt.Errorf("bench: %s: the peer trains %d parameters, peftbench %d: the models differ", l.Name, l.Trainable, s.trained)
	}
	p.Version = "torch " + l.Torch
	return l, nil
}

// Close ends the peer process.
func (p *Peer) Close() error {
	err := p.wait()
	os.RemoveAll(p.dir)
	return err
}

func (p *Peer) wait() error {
	if p.waited {
		return nil
	}
	p.waited = true
	p.in.Close()
	return p.cmd.Wait()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
