package sweep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/peftbench/peftbench/internal/atomicfile"
	"github.com/peftbench/peftbench/internal/machine"
	"github.com/peftbench/peftbench/nn"
	"github.com/peftbench/peftbench/trial"
	"github.com/schollz/progressbar/v3"
)

// Options control a sweep run.
type Options struct {
	Out     string
	Workers int
	// Trial is the command that runs one trial: it reads the spec as JSON
	// on standard input and writes the result under Out (harness trial).
	Trial []string
	// RetryFailed reruns trials whose stored result is a failure.
	RetryFailed bool
	// Shard and Shards name the part of a sweep this run is (ShardOf), for
	// the folder's lock: shards of one sweep may share a folder.
	Shard, Shards int
	Progress      io.Writer
}

// Summary counts what a run found and did.
type Summary struct {
	Total, Skipped, Ran, Succeeded, Failed int
	FailedIDs                              []string
}

// logLines is how much of a failing trial's output its result keeps; the
// whole of it is in trial.LogPath.
const logLines = 20

// ShardOf returns shard i of n of a sweep's trials: those at positions i,
// i+n, i+2n, ...
func ShardOf(trials []trial.Spec, i, n int) []trial.Spec {
	if n <= 1 {
		return trials
	}
	var mine []trial.Spec
	for j, t := range trials {
		if j%n == i {
			mine = append(mine, t)
		}
	}
	return mine
}

// Run executes the trials not yet done, Workers child processes at a time.
// Every result, even of a child that crashed, ends up in Out/trials. It
// holds Out's lock (LockDir) throughout, and fails at once when another
// sweep holds it. A trial whose result another shard has written by the
// time a worker takes it is skipped.
func Run(trials []trial.Spec, opt Options) (*Summary, error) {
	if opt.Workers < 1 {
		opt.Workers = 1
	}
	lock, err := LockDir(opt.Out, opt.Shard, opt.Shards)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	sum := &Summary{Total: len(trials)}
	var pending []trial.Spec
	done := func(t trial.Spec) bool { // counted as skipped when it is
		r, err := trial.ReadResult(trial.Path(opt.Out, t.ID()))
		if err != nil || (r.Status != trial.Success && opt.RetryFailed) {
			return false // missing, unreadable or a failure to retry
		}
		sum.Skipped++
		if r.Status == trial.Failed {
			sum.Failed++
			sum.FailedIDs = append(sum.FailedIDs, r.ID)
		}
		return true
	}
	for _, t := range trials {
		if !done(t) {
			pending = append(pending, t)
		}
	}
	if len(pending) == 0 {
		return sum, nil
	}
	progress := opt.Progress
	if progress == nil {
		progress = io.Discard
	}
	bar := progressbar.NewOptions(len(pending), progressbar.OptionSetWriter(progress), progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true), progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionFullWidth())
	threads := max(1, runtime.NumCPU()/opt.Workers)
	var mu sync.Mutex
	jobs := make(chan trial.Spec)
	var wg sync.WaitGroup
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range jobs {
				mu.Lock()
				if done(t) { // another shard ran it meanwhile
					bar.Add(1)
					mu.Unlock()
					continue
				}
				bar.Describe(fmt.Sprintf("%d ok, %d failed | %s", sum.Succeeded, sum.Failed, t.Label()))
				mu.Unlock()
				r := runChild(t, opt, threads)
				mu.Lock()
				sum.Ran++
				if r.Status == trial.Success {
					sum.Succeeded++
				} else {
					sum.Failed++
					sum.FailedIDs = append(sum.FailedIDs, r.ID)
					fmt.Fprintf(progress, "\nfailed %s (%s): %s\n", r.ID, t.Label(), r.Error)
				}
				bar.Describe(fmt.Sprintf("%d ok, %d failed", sum.Succeeded, sum.Failed))
				bar.Add(1)
				mu.Unlock()
			}
		}()
	}
	for _, t := range pending {
		jobs <- t
	}
	close(jobs)
	wg.Wait()
	bar.Finish()
	fmt.Fprintln(progress)
	return sum, nil
}

// runChild runs one trial in a child process and returns its result,
// writing a failed one when the child left none (a crash, a kill, running
// out of memory).
func runChild(t trial.Spec, opt Options, threads int) *trial.Result {
	spec, _ := json.Marshal(t)
	cmd := exec.Command(opt.Trial[0], append(opt.Trial[1:], "--out", opt.Out)...)
	cmd.Stdin = bytes.NewReader(spec)
	cmd.Env = append(os.Environ(), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads), fmt.Sprintf("GOMAXPROCS=%d", threads))
	// The child dies with the sweep, so a killed sweep leaves no orphan
	// finishing a trial nobody waits for.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	// The whole output is kept beside the result, whatever the outcome; a
	// failure to keep it is said in the output, not made the trial's.
	logErr := os.MkdirAll(filepath.Join(opt.Out, "trials"), 0o755)
	if logErr == nil {
		logErr = atomicfile.Write(trial.LogPath(opt.Out, t.ID()), out.Bytes())
	}
	if logErr != nil && opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "\nsweep: the log of %s is not kept: %v\n", t.ID(), logErr)
	}
	r, err := trial.ReadResult(trial.Path(opt.Out, t.ID()))
	if err == nil {
		return r
	}
	r = &trial.Result{ID: t.ID(), Status: trial.Failed, Spec: t, Env: machine.Describe(nn.BLAS()), Log: Tail(out.String(), logLines)}
	r.Error = fmt.Sprintf("trial process left no result: %v", runErr)
	if runErr == nil {
		r.Error = "trial process exited cleanly but left no result"
	}
	if werr := r.Write(opt.Out); werr != nil {
		r.Error += "; writing this failure: " + werr.Error()
	}
	return r
}

// Tail returns the last n non-empty lines of s (progress bars' carriage
// returns count as line ends).
func Tail(s string, n int) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(s, "\r", "\n")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
