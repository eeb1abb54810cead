package sweep

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// holdLock is the child side of TestKilledHolderLeavesNoLock.
func holdLock(dir string) {
	if _, err := LockDir(dir, 0, 0); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute) // until killed
	os.Exit(0)
}

// inUseBy matches the message of a refused sweep naming its holders.
func inUseBy(dir string, holders ...string) *regexp.Regexp {
	for i, h := range holders {
		holders[i] = regexp.QuoteMeta(h) + `, since \d\d:\d\d:\d\d`
	}
	return regexp.MustCompile("^" + regexp.QuoteMeta("sweep: "+dir+" is in use by another sweep (") +
		strings.Join(holders, "; ") + regexp.QuoteMeta("); wait for it or use another --out") + "$")
}

func mustLock(t *testing.T, dir string, shard, shards int) *Lock {
	t.Helper()
	l, err := LockDir(dir, shard, shards)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Release() })
	return l
}

func TestSecondSweepIntoAFolderFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results", "x")
	host, _ := os.Hostname()
	me := fmt.Sprintf("pid %d on %s", os.Getpid(), host)
	l := mustLock(t, dir, 0, 0)
	_, err := LockDir(dir, 0, 0)
	if err == nil || !inUseBy(dir, me).MatchString(err.Error()) {
		t.Fatalf("second lock: %v", err)
	}
	// A whole sweep keeps out the shards too, and Run stops before
	// running anything.
	if _, err := LockDir(dir, 1, 2); err == nil || !inUseBy(dir, me).MatchString(err.Error()) {
		t.Fatalf("shard under a whole sweep: %v", err)
	}
	if sum, err := Run(fakeSpecs(1, 2), fakeOptions(t, dir)); err == nil || !inUseBy(dir, me).MatchString(err.Error()) || sum != nil {
		t.Fatalf("Run into a locked folder: %+v, %v", sum, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "trials")); !os.IsNotExist(err) {
		t.Fatalf("a refused sweep wrote results: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	mustLock(t, dir, 0, 0).Release()
	// Run releases the lock when it returns.
	if _, err := Run(fakeSpecs(1), fakeOptions(t, dir)); err != nil {
		t.Fatal(err)
	}
	mustLock(t, dir, 0, 0)
}

func TestShardsShareAFolder(t *testing.T) {
	dir := t.TempDir()
	host, _ := os.Hostname()
	me := fmt.Sprintf("pid %d on %s", os.Getpid(), host)
	mustLock(t, dir, 0, 2)
	one := mustLock(t, dir, 1, 2)
	if _, err := LockDir(dir, 1, 2); err == nil || !inUseBy(dir, "shard 1/2, "+me).MatchString(err.Error()) {
		t.Fatalf("the same shard twice: %v", err)
	}
	if _, err := LockDir(dir, 0, 0); err == nil || !inUseBy(dir, "shard 0/2, "+me, "shard 1/2, "+me).MatchString(err.Error()) {
		t.Fatalf("a whole sweep over shards: %v", err)
	}
	one.Release()
	mustLock(t, dir, 1, 2)
}

func TestKilledHolderLeavesNoLock(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOLD_SWEEP_LOCK="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("holder said %q, %v", line, err)
	}
	host, _ := os.Hostname()
	if _, err := LockDir(dir, 0, 0); err == nil || !inUseBy(dir, fmt.Sprintf("pid %d on %s", cmd.Process.Pid, host)).MatchString(err.Error()) {
		t.Fatalf("lock held by pid %d: %v", cmd.Process.Pid, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// The kernel dropped the dead holder's lock; its file is still there.
	mustLock(t, dir, 0, 0)
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Fatal(err)
	}
}
