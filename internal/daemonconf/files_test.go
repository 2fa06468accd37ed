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

package daemonconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// root makes a fake root holding files (host path -> content).
func root(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadRefusesAFIFOWithoutBlocking(t *testing.T) {
	dir := root(t, nil)
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "etc/fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := (&Files{Root: dir}).Read("/etc/fifo.conf")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("reading a FIFO: %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO with no writer blocked (10 s)")
	}
}

func TestReadBounds(t *testing.T) {
	dir := root(t, map[string]string{
		"/etc/big.conf":   strings.Repeat("x", MaxFileSize+1),
		"/etc/small.conf": "port 1\n",
	})
	f := &Files{Root: dir}
	if _, err := f.Read("/etc/big.conf"); !errors.Is(err, ErrLimit) {
		t.Errorf("a file of MaxFileSize+1 bytes: %v, want ErrLimit", err)
	}
	if _, err := f.Read("/etc/missing.conf"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want ErrNotExist", err)
	}
	for i := 0; i < MaxFiles; i++ {
		if _, err := f.Read("/etc/small.conf"); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if _, err := f.Read("/etc/small.conf"); !errors.Is(err, ErrLimit) {
		t.Errorf("read %d: %v, want ErrLimit", MaxFiles+1, err)
	}
}

func TestReadTotalBound(t *testing.T) {
	files := map[string]string{}
	chunk := strings.Repeat("y", MaxFileSize)
	for i := 0; i <= MaxTotalSize/MaxFileSize; i++ {
		files[filepath.Join("/etc/many", string(rune('a'+i))+".conf")] = chunk
	}
	f := &Files{Root: root(t, files)}
	names, err := f.Dir("/etc/many", ".conf")
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for _, n := range names {
		if _, last = f.Read(n); last != nil {
			break
		}
	}
	if !errors.Is(last, ErrLimit) {
		t.Errorf("reading %d files of %d bytes: %v, want ErrLimit past %d bytes", len(names), MaxFileSize, last, MaxTotalSize)
	}
}

func TestIncludeLoopAndDepth(t *testing.T) {
	dir := root(t, map[string]string{
		"/etc/a.conf":  "include /etc/b.conf",
		"/etc/b.conf":  "include /etc/a.conf",
		"/etc/me.conf": "include /etc/me.conf",
	})
	f := &Files{Root: dir}
	var parse func(name string) error
	parse = func(name string) error {
		return f.Include(name, func(b []byte) error {
			next, ok := strings.CutPrefix(string(b), "include ")
			if !ok {
				return nil
			}
			return parse(next)
		})
	}
	err := parse("/etc/a.conf")
	if err == nil || !strings.Contains(err.Error(), "include loop: /etc/a.conf -> /etc/b.conf -> /etc/a.conf") {
		t.Errorf("a -> b -> a: %v", err)
	}
	if err := parse("/etc/me.conf"); err == nil || !strings.Contains(err.Error(), "include loop") {
		t.Errorf("an include of itself: %v", err)
	}

	// Nesting: a chain of distinct files deeper than MaxDepth.
	chain := map[string]string{}
	for i := 0; i <= MaxDepth+1; i++ {
		chain[filepath.Join("/etc/chain", string(rune('a'+i)))] = "include " + filepath.Join("/etc/chain", string(rune('a'+i+1)))
	}
	f = &Files{Root: root(t, chain)}
	if err := parse("/etc/chain/a"); !errors.Is(err, ErrLimit) {
		t.Errorf("includes %d deep: %v, want ErrLimit", MaxDepth+2, err)
	}
}

func TestDigestAndWatchedFollowSymlinks(t *testing.T) {
	dir := root(t, map[string]string{"/etc/nginx/sites-available/default": "listen 80;"})
	if err := os.MkdirAll(filepath.Join(dir, "etc/nginx/sites-enabled"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sites-available/default", filepath.Join(dir, "etc/nginx/sites-enabled/default")); err != nil {
		t.Fatal(err)
	}
	read := func() *Files {
		f := &Files{Root: dir}
		if _, err := f.Read("/etc/nginx/sites-enabled/default"); err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := read()
	want := []string{"/etc/nginx/sites-available", "/etc/nginx/sites-enabled"}
	if got := f.Watched(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("watched %v, want %v (the link's directory and its target's)", got, want)
	}
	before := f.Digest()
	if again := read().Digest(); again != before {
		t.Error("the same content read twice has two digests")
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/nginx/sites-available/default"), []byte("listen 81;"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := read().Digest(); after == before {
		t.Error("the digest did not change with the content")
	}
}

func TestFlagValue(t *testing.T) {
	for _, tc := range []struct {
		argv  []string
		names []string
		want  string
		ok    bool
	}{
		{[]string{"nginx", "-c", "/a.conf"}, []string{"-c"}, "/a.conf", true},
		{[]string{"nginx", "-c/b.conf"}, []string{"-c"}, "/b.conf", true},
		{[]string{"mongod", "--config=/c.conf"}, []string{"-f", "--config"}, "/c.conf", true},
		{[]string{"mongod", "--config", "/d.conf", "-f", "/e.conf"}, []string{"-f", "--config"}, "/e.conf", true},
		{[]string{"nginx", "-g", "daemon on;"}, []string{"-c"}, "", false},
		{[]string{"nginx", "-c"}, []string{"-c"}, "", false},
	} {
		got, ok := FlagValue(tc.argv, tc.names...)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FlagValue(%q, %q) = %q, %v; want %q, %v", tc.argv, tc.names, got, ok, tc.want, tc.ok)
		}
	}
}

func TestListenWhere(t *testing.T) {
	const x, d = "/etc/x.conf", "/etc/x.d/a.conf"
	for _, tc := range []struct {
		l    Listen
		want string
	}{
		{Listen{File: x, Line: 64}, "/etc/x.conf:64"},
		{Listen{File: x}, "/etc/x.conf (default)"},
		{Listen{}, "default"},
		// The address on another line of the port's file: its line only.
		{Listen{File: x, Line: 64, AddrFile: x, AddrLine: 60}, "/etc/x.conf:64 (port), :60 (address)"},
		// In another file: named.
		{Listen{File: x, Line: 64, AddrFile: d, AddrLine: 2}, "/etc/x.conf:64 (port), /etc/x.d/a.conf:2 (address)"},
		// The port's own position again is no second place.
		{Listen{File: x, Line: 64, AddrFile: x, AddrLine: 64}, "/etc/x.conf:64"},
	} {
		if got := tc.l.Where(); got != tc.want {
			t.Errorf("%+v.Where() = %q, want %q", tc.l, got, tc.want)
		}
	}
	// withAddr records only another, said position.
	port := Listen{File: x, Line: 64}
	for _, tc := range []struct {
		file string
		line int
		want Listen
	}{
		{x, 60, Listen{File: x, Line: 64, AddrFile: x, AddrLine: 60}},
		{d, 64, Listen{File: x, Line: 64, AddrFile: d, AddrLine: 64}},
		{x, 64, port},
		{d, 0, port}, // a default address says nowhere
	} {
		if got := port.withAddr(tc.file, tc.line); got != tc.want {
			t.Errorf("withAddr(%q, %d) = %+v, want %+v", tc.file, tc.line, got, tc.want)
		}
	}
}

// A file that could not be read is watched as one read, through its
// symlink too: Debian's sites-enabled/default made 0640 and back to 0644
// (seen on a booted host: the chmod back was never seen, the check learned
// on). The test runs as root, whom a mode does not stop: a FIFO fails the
// read instead.
func TestWatchedHoldsAFileThatCouldNotBeRead(t *testing.T) {
	dir := root(t, map[string]string{"/etc/nginx/nginx.conf": "include sites-enabled/*;"})
	for _, d := range []string{"etc/nginx/sites-available", "etc/nginx/sites-enabled"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(dir, "etc/nginx/sites-available/default"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../sites-available/default", filepath.Join(dir, "etc/nginx/sites-enabled/default")); err != nil {
		t.Fatal(err)
	}
	f := &Files{Root: dir}
	if _, err := f.Read("/etc/nginx/sites-enabled/default"); err == nil {
		t.Fatal("a FIFO read, want an error")
	}
	want := []string{"/etc/nginx/sites-available", "/etc/nginx/sites-enabled"}
	if got := f.Watched(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("watched %v, want %v (the link's directory and its target's)", got, want)
	}
}
