package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockFile is the file in a results folder that a running sweep holds
// locked, so that a second sweep into the same folder stops at once
// instead of running every trial a second time.
const LockFile = ".lock"

// A Lock is a results folder held by this process's sweep. The lock is an
// flock(2) on an open file, which the kernel drops when the process exits
// however it exits, so a killed sweep leaves no stale lock behind; the
// file stays, holding the last holder's pid, host and start time for the
// message a refused sweep prints.
//
// Shards of one sweep (Options.Shard) run disjoint trials, so they may
// share a folder: each holds LockFile shared and its own
// ".lock.shard-I-of-N" exclusively. A shard still keeps out a whole
// sweep, and the same shard started twice.
type Lock struct {
	files []*os.File
}

// holder is what a lock file says about the sweep holding it.
type holder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
	Shard string    `json:"shard,omitempty"` // "i/n"
}

// LockDir takes dir's lock for a sweep (for shard i of n when shards > 1),
// creating dir if needed. When another sweep holds it, the error says
// which: "sweep: results/x is in use by another sweep (pid 1234 on host,
// since 10:02:03); wait for it or use another --out".
func LockDir(dir string, shard, shards int) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	main, err := openLockFile(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	me := holder{PID: os.Getpid(), Since: time.Now()}
	me.Host, _ = os.Hostname()
	l := &Lock{files: []*os.File{main}}
	if shards <= 1 {
		if err := flock(main, syscall.LOCK_EX); err != nil {
			l.Release()
			return nil, inUse(dir, err, "")
		}
		return l, writeHolder(main, me)
	}
	if err := flock(main, syscall.LOCK_SH); err != nil {
		l.Release()
		return nil, inUse(dir, err, LockFile)
	}
	own, err := openLockFile(filepath.Join(dir, shardLockFile(shard, shards)))
	if err != nil {
		l.Release()
		return nil, err
	}
	l.files = append(l.files, own)
	if err := flock(own, syscall.LOCK_EX); err != nil {
		l.Release()
		return nil, inUse(dir, err, shardLockFile(shard, shards))
	}
	me.Shard = fmt.Sprintf("%d/%d", shard, shards)
	return l, writeHolder(own, me)
}

// Release unlocks the folder. Closing the files drops the locks; the
// files stay, so that a sweep starting meanwhile never locks a file
// another has just removed.
func (l *Lock) Release() error {
	var errs []error
	for i := len(l.files) - 1; i >= 0; i-- {
		errs = append(errs, l.files[i].Close())
	}
	l.files = nil
	return errors.Join(errs...)
}

func shardLockFile(shard, shards int) string {
	return fmt.Sprintf("%s.shard-%d-of-%d", LockFile, shard, shards)
}

func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	return f, nil
}

// errHeld says a lock is held by someone else.
var errHeld = errors.New("held")

// flock takes a lock without waiting: errHeld when another open file
// holds a conflicting one.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errHeld
		}
		return fmt.Errorf("sweep: locking %s: %w", f.Name(), err)
	}
}

func writeHolder(f *os.File, h holder) error {
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// inUse turns a refused lock into the message naming who holds the
// folder: the holder of the lock file refused, or (file "") whoever
// holds any.
func inUse(dir string, err error, file string) error {
	if !errors.Is(err, errHeld) {
		return err
	}
	var hs []holder
	if file != "" {
		if h, ok := readHolder(filepath.Join(dir, file)); ok {
			hs = append(hs, h)
		}
	} else {
		hs = holders(dir)
	}
	var who []string
	for _, h := range hs {
		who = append(who, h.String())
	}
	if len(who) == 0 {
		who = []string{"holder unknown"}
	}
	return fmt.Errorf("sweep: %s is in use by another sweep (%s); wait for it or use another --out", dir, strings.Join(who, "; "))
}

// holders reads who holds dir's locks now: the whole-sweep holder of
// LockFile, or else the shards holding their own lock files.
func holders(dir string) []holder {
	main := filepath.Join(dir, LockFile)
	if held(main, syscall.LOCK_SH) { // held exclusively: a whole sweep
		if h, ok := readHolder(main); ok {
			return []holder{h}
		}
		return nil
	}
	var out []holder
	files, _ := filepath.Glob(filepath.Join(dir, LockFile+".shard-*-of-*"))
	for _, p := range files {
		if held(p, syscall.LOCK_EX) {
			if h, ok := readHolder(p); ok {
				out = append(out, h)
			}
		}
	}
	return out
}

// held tells whether another open file holds a lock on path that
// conflicts with how.
func held(path string, how int) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return flock(f, how) == errHeld
}

func readHolder(path string) (holder, bool) {
	var h holder
	b, err := os.ReadFile(path)
	return h, err == nil && json.Unmarshal(b, &h) == nil && h.PID > 0
}

// String is the holder as a refused sweep names it: "pid 1234 on host,
// since 10:02:03" (with the date when not today; "shard 1/4, " first for
// a shard).
func (h holder) String() string {
	since := h.Since.Local()
	layout := "15:04:05"
	if since.Format(time.DateOnly) != time.Now().Format(time.DateOnly) {
		layout = time.DateTime
	}
	s := fmt.Sprintf("pid %d on %s, since %s", h.PID, h.Host, since.Format(layout))
	if h.Shard != "" {
		s = "shard " + h.Shard + ", " + s
	}
	return s
}
