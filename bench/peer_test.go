package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
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
		res[0].MsPerStep != 8*256 || res[0].MFU <= 0 || res[0].AllocPerStep != -1 || res[0].Threads != 2 {
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
