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

package sysboxtest

// The cgroup helpers below are internal/systemdtest's (same rules, same
// code), with removeCgroups reporting what it could not remove, plus
// sweepStale. They are candidates for a shared internal package once both
// harnesses settle.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// createCgroups makes a cgroup named name below the caller's own cgroup in
// every hierarchy the caller is in (cgroup v1 controllers, name=systemd, and
// the v2 tree, which is /sys/fs/cgroup/unified on hybrid hosts and
// /sys/fs/cgroup on pure v2 ones).
func createCgroups(name string) ([]string, error) {
	parents, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, parent := range parents {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			removeCgroups(dirs)
			return nil, err
		}
		dirs = append(dirs, dir)
		// A v1 cpuset cgroup refuses tasks until it has CPUs and memory nodes.
		for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
			if value, err := os.ReadFile(filepath.Join(parent, file)); err == nil {
				if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
					removeCgroups(dirs)
					return nil, fmt.Errorf("%s: %w", file, err)
				}
			}
		}
	}
	return dirs, nil
}

// ownCgroups returns the caller's cgroup directory in every hierarchy that
// is mounted.
func ownCgroups() ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
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

// sweepStale removes what a test process that died without its cleanup
// (killed by go test -timeout, say: its container powers off, see
// Pdeathsig) left behind: empty cgroups and state directories named
// prefix-PID-…, below the caller's cgroups and in the temporary directory,
// whose PID no longer runs. A cgroup with any process in it is kept.
func sweepStale(prefix string) {
	stale := func(path string) bool {
		rest, ok := strings.CutPrefix(filepath.Base(path), prefix+"-")
		if !ok {
			return false
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid <= 1 {
			return false
		}
		err = syscall.Kill(pid, 0) // a zombie or a reused PID counts as running
		return errors.Is(err, syscall.ESRCH)
	}
	parents, _ := ownCgroups()
	for _, parent := range parents {
		dirs, _ := filepath.Glob(filepath.Join(parent, prefix+"-*"))
		for _, dir := range dirs {
			if stale(dir) && len(cgroupProcesses([]string{dir})) == 0 {
				removeCgroups([]string{dir})
			}
		}
	}
	states, _ := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-*"))
	for _, state := range states {
		if stale(state) && len(mountsUnder(state)) == 0 {
			os.RemoveAll(state)
		}
	}
}

// cgroupMounts maps each hierarchy, named as in /proc/self/cgroup ("" for
// v2, "memory", "cpu,cpuacct", "name=systemd"), to its mount point.
func cgroupMounts() (map[string]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts := map[string]string{}
	sc := bufio.NewScanner(f)
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

// cgroupProcesses lists the processes in the given cgroups and their
// descendants, as the caller's PID namespace numbers them.
func cgroupProcesses(dirs []string) []int {
	var pids []int
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			data, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for field := range strings.FieldsSeq(string(data)) {
				if pid, err := strconv.Atoi(field); err == nil && pid > 1 {
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// killCgroupProcesses SIGKILLs every process in the given cgroups and their
// descendants: all of them were started by our container.
func killCgroupProcesses(dirs []string) {
	for range 50 { // processes can fork while we kill; bounded retries
		pids := cgroupProcesses(dirs)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeCgroups removes the cgroups, deepest first, and returns those it
// could not remove.
func removeCgroups(dirs []string) []string {
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
