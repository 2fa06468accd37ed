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
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addrAt is l with its address said at file:line, another directive
// than its port's (set here, not through withAddr, which it checks).
func addrAt(l Listen, file string, line int) Listen {
	l.AddrFile, l.AddrLine = file, line
	return l
}

// fuzzOneFile writes one config file's bytes at path in a fake root and
// checks Parse's Listens hold the package's invariants.
func fuzzOneFile(t *testing.T, d *Daemon, path string, data []byte, spec Spec) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Config = path
	ls, err := d.Parse(&Files{Root: root}, spec)
	if err != nil {
		return
	}
	for _, l := range ls {
		if l.Proto != "tcp" && l.Proto != "udp" {
			t.Fatalf("proto %q in %v", l.Proto, l)
		}
		if l.Port < 1 || l.Port > 65535 {
			t.Fatalf("port %d in %v", l.Port, l)
		}
		if l.Address != "" {
			if _, err := netip.ParseAddr(l.Address); err != nil {
				t.Fatalf("address %q in %v", l.Address, l)
			}
		}
		if l.File == "" {
			t.Fatalf("no file in %v", l)
		}
	}
}

// seedFiles adds every fixture file under dir to f's corpus.
func seedFiles(f *testing.F, dir string) {
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
}

func TestGetopt(t *testing.T) {
	long := map[string]bool{"listen": true, "listen-backlog": true, "port": true, "daemon": false}
	got := getopt([]string{"-dp11211", "x", "-l", "1.2.3.4", "--list=5.6.7.8", "--po", "9", "--daemon", "--", "-p", "1"}, "lp", long)
	want := []opt{{"d", "", 0}, {"p", "11211", 0}, {"l", "1.2.3.4", 2}, {"port", "9", 5}, {"daemon", "", 7}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
