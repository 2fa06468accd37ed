// Copyright 2026 The warden_exporter Authors
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// Package testcgroup gives a test harness cgroups of its own, one per
// hierarchy, below the caller's, and takes them down again: every process in
// them is killed, every directory removed.
//
// The test harnesses (internal/systemdtest, internal/sysboxtest) run systemd
// managers. A manager started in a cgroup takes it over: at a cgroup root it
// moves every process in it (PID 1 included) into its init.scope, that is,
// it takes over the whole machine. Inside a cgroup made for it, it only
// touches what it starts, several managers can run at once, and everything
// one started can be found, and killed, by its cgroup.
//
// It needs root (or delegated cgroups) and works on cgroup v1, hybrid and
// pure v2 hosts: the hierarchies are those the caller is in and that are
// mounted (v1 controllers, name=systemd, and the v2 tree, which is
// /sys/fs/cgroup/unified on hybrid hosts and /sys/fs/cgroup on pure v2 ones).
package testcgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Create makes a cgroup named name below the caller's own cgroup in every
// hierarchy the caller is in, and returns their directories. On an error it
// removes what it made.
func Create(name string) ([]string, error) {
	parents, err := Own()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, parent := range parents {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			Remove(dirs)
			return nil, err
		}
		dirs = append(dirs, dir)
		// A v1 cpuset cgroup refuses tasks until it has CPUs and memory nodes.
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			if value, err := os.ReadFile(filepath.Join(parent, file)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
					Remove(dirs)
					return nil, fmt.Errorf("%s: %w", file, err)
				}
			}
		}
	}
	return dirs, nil
}

// Own returns the caller's cgroup directory in every hierarchy that is
// mounted.
func Own() ([]string, error) {
	mountinfo, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer mountinfo.Close()
	mounts, err := parseMounts(mountinfo)
	if err != nil {
		return nil, err
	}
	cgroup, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer cgroup.Close()
	return ownDirs(cgroup, mounts)
}

// parseMounts maps each hierarchy in a mountinfo file, named as in
// /proc/self/cgroup ("" for v2, "memory", "cpu,cpuacct", "name=systemd"), to
// its mount point. Only mounts of a hierarchy's root count.
func parseMounts(mountinfo io.Reader) (map[string]string, error) {
	mounts := map[string]string{}
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || fields[3] != "/" {
			continue
		}
		mountPoint, fsType, superOpts := fields[4], fields[sep+1], fields[sep+3]
		switch fsType {
		case "cgroup2":
			mounts[""] = mountPoint
		case "cgroup":
			var names []string
			for opt := range strings.SplitSeq(superOpts, ",") {
				switch {
				case strings.HasPrefix(opt, "name="):
					names = append(names, opt)
				case opt == "rw" || opt == "ro" || strings.Contains(opt, "=") || opt == "clone_children" || opt == "noprefix" || opt == "xattr":
				default:
					names = append(names, opt)
				}
			}
			mounts[strings.Join(names, ",")] = mountPoint
		}
	}
	return mounts, sc.Err()
}

// ownDirs joins each line of a /proc/PID/cgroup file to its hierarchy's
// mount point; a hierarchy that is not mounted is left out.
func ownDirs(cgroup io.Reader, mounts map[string]string) ([]string, error) {
	var dirs []string
	sc := bufio.NewScanner(cgroup)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if mount, ok := mounts[parts[1]]; ok { // else not mounted here
			dirs = append(dirs, filepath.Join(mount, parts[2]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, errors.New("no cgroup hierarchy found")
	}
	return dirs, nil
}

// Processes lists the processes in the given cgroups and their descendants,
// as the caller's PID namespace numbers them, each once (on cgroup v1 a
// process is in every hierarchy).
func Processes(dirs []string) []int {
	var pids []int
	seen := map[int]bool{}
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for field := range strings.FieldsSeq(string(data)) {
				if pid, err := strconv.Atoi(field); err == nil && pid > 1 && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// Kill SIGKILLs every process in the given cgroups and their descendants,
// until none is left or it gives up: call it only on cgroups from Create,
// where everything was started by the test.
func Kill(dirs []string) {
	for range 50 { // processes can fork while we kill; bounded retries
		pids := Processes(dirs)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Remove removes the cgroups and their descendants, deepest first, and
// returns those it could not remove. A cgroup with a process in it cannot
// be removed: Kill first.
func Remove(dirs []string) []string {
	var left []string
	for _, dir := range dirs {
		var all []string
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, path)
			}
			return nil
		})
		for i := len(all) - 1; i >= 0; i-- {
			for range 50 { // an exiting process can keep a cgroup busy briefly
				if err := os.Remove(all[i]); err == nil || errors.Is(err, os.ErrNotExist) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if _, err := os.Stat(dir); err == nil {
			left = append(left, dir)
		}
	}
	return left
}

// Stale reports whether path's base name is prefix-PID-… (or prefix-PID)
// and PID no longer runs: what a test process that died without its cleanup
// (killed by go test -timeout, say) left behind.
func Stale(prefix, path string) bool {
	pid, ok := ownerPID(prefix, filepath.Base(path))
	if !ok {
		return false
	}
	err := syscall.Kill(pid, 0) // a zombie or a reused PID counts as running
	return errors.Is(err, syscall.ESRCH)
}

// ownerPID returns the PID in a name prefix-PID-… or prefix-PID.
func ownerPID(prefix, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, true
}

// SweepStale removes the empty cgroups named prefix-PID-… below the caller's
// cgroups that are Stale. A cgroup with any process in it is kept.
func SweepStale(prefix string) {
	parents, _ := Own()
	for _, parent := range parents {
		dirs, _ := filepath.Glob(filepath.Join(parent, prefix+"-*"))
		for _, dir := range dirs {
			if Stale(prefix, dir) && len(Processes([]string{dir})) == 0 {
				Remove([]string{dir})
			}
		}
	}
}

// Alive reports whether pid runs and is not a zombie: a killed orphan stays
// a zombie until whoever inherited it reaps it, which is not the test's to
// wait for.
func Alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
