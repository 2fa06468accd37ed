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

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadBounded runs Load in a goroutine and fails the test, rather than
// hanging it, if Load does not return within a generous bound. A Load that
// blocks in open(2) on a FIFO is released by opening the FIFO for writing,
// so the goroutine does not outlive the test.
func loadBounded(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(path)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatalf("Load(%s) did not return within 10s", path)
		return nil
	}
}

// A config file replaced by a FIFO (or a symlink to one) is refused at once
// with an error that names the file, instead of blocking in open(2) until
// a writer appears: forever, taking the start-up, a SIGHUP reload or
// --config.check with it.
func TestLoadRefusesAFIFOWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "warden.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yml")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, link} {
		err := loadBounded(t, path)
		want := path + ": is a named pipe (FIFO), not a regular file"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
		if !errors.Is(err, ErrNotRegular) || !errors.Is(err, ErrRead) {
			t.Errorf("%v: want errors.Is ErrNotRegular and ErrRead", err)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.File != path {
			t.Errorf("want a FieldError naming %s, got %#v", path, fe)
		}
	}
}

// Other files that are not regular are refused the same way; a symlink to a
// regular file still loads.
func TestLoadRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	err := loadBounded(t, dir)
	if !errors.Is(err, ErrNotRegular) || err.Error() != dir+": is a directory, not a regular file" {
		t.Errorf("directory: got %v", err)
	}

	good := filepath.Join(dir, "good.yml")
	if err := os.WriteFile(good, []byte("discovery: {enabled: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yml")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if err := loadBounded(t, link); err != nil {
		t.Errorf("a symlink to a regular file must load: %v", err)
	}

	err = loadBounded(t, filepath.Join(dir, "missing.yml"))
	if !errors.Is(err, ErrRead) || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), filepath.Join(dir, "missing.yml")+": ") {
		t.Errorf("missing file: got %v", err)
	}
}

// readChars is what this process has read so far, in bytes (rchar in
// /proc/self/io).
func readChars(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("cannot count this process's reads: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no rchar in /proc/self/io")
	return 0
}

// A file over the limit is refused with ErrTooLarge naming the limit, and
// without reading more than one byte past it: a sparse 1 GiB file costs no
// memory. A file of exactly the limit loads.
func TestLoadRefusesALargeFileWithoutReadingIt(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := readChars(t)
	_, err = Load(big)
	read := readChars(t) - before
	if want := big + ": is larger than the limit of 128 KiB"; !errors.Is(err, ErrTooLarge) || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if read > MaxFileSize+1 {
		t.Errorf("Load read %d bytes of a file over the limit, want at most %d", read, MaxFileSize+1)
	}

	doc := "discovery: {enabled: true}\n#"
	exact := doc + strings.Repeat("x", MaxFileSize-len(doc)-1) + "\n"
	for _, tc := range []struct {
		content string
		ok      bool
	}{{exact, true}, {exact + "\n", false}} {
		path := filepath.Join(dir, "c.yml")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrTooLarge) {
			t.Errorf("a file of %d bytes: got %v", len(tc.content), err)
		}
	}
}

// parseBounded runs Parse in a goroutine and fails the test, rather than
// hanging it, if Parse does not return within a generous bound; release
// unblocks what a Parse that hangs waits on.
func parseBounded(t *testing.T, doc, file string, release func()) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Parse([]byte(doc), file)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		release()
		<-done
		t.Fatal("Parse did not return within 10s")
		return nil
	}
}

// The files tls_config names are read when the config is loaded: like the
// config file, only regular files of a bounded size are. A FIFO used to
// block the load forever, /dev/zero or a huge file to eat memory.
func TestTLSFilesMustBeRegularAndBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "ca.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	release := func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
	doc := "checks:\n  - name: a\n    probes:\n      - target: 127.0.0.1:1\n        tls: true\n        tls_config:\n          ca_file: ca.pem\n"
	err := parseBounded(t, doc, filepath.Join(dir, "c.yml"), release)
	want := filepath.Join(dir, "c.yml") + ":7: checks[0].probes[0].tls_config.ca_file: " + fifo + " is a named pipe (FIFO), not a regular file"
	if !errors.Is(err, ErrNotRegular) || err.Error() != want {
		t.Errorf("a FIFO as ca_file:\n got: %v\nwant: %s", err, want)
	}

	big := filepath.Join(dir, "big.pem")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := readChars(t)
	err = parseBounded(t, strings.ReplaceAll(doc, "ca_file: ca.pem", "cert_file: big.pem\n          key_file: big.pem"), filepath.Join(dir, "c.yml"), func() {})
	read := readChars(t) - before
	want = filepath.Join(dir, "c.yml") + ":7: checks[0].probes[0].tls_config.cert_file: " + big + " is larger than the limit of 1 MiB\n" +
		filepath.Join(dir, "c.yml") + ":8: checks[0].probes[0].tls_config.key_file: " + big + " is larger than the limit of 1 MiB"
	if !errors.Is(err, ErrTooLarge) || err.Error() != want {
		t.Errorf("a huge cert_file and key_file:\n got: %v\nwant: %s", err, want)
	}
	if read > 1<<20 {
		t.Errorf("the check read %d bytes of a file over the limit", read)
	}
}
