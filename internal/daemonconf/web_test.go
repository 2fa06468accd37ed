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
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseCase is one parse of a fixture tree (Files.Root) and what it must
// give: the sockets in order, or an error, naming a file and line, whose
// text holds err.
type parseCase struct {
	name string
	spec Spec
	want []Listen
	err  string
}

func webTCP(addr string, port int, file string, line int) Listen {
	return Listen{Proto: "tcp", Address: addr, Port: port, File: file, Line: line}
}

func webUDP(addr string, port int, file string, line int) Listen {
	return Listen{Proto: "udp", Address: addr, Port: port, File: file, Line: line}
}

// webErrors are cases of broken files in dir, each (file name, the
// error's expected text) a pair; the main file is the one parsed.
func webErrors(dir string, pairs ...string) []parseCase {
	var out []parseCase
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, parseCase{name: pairs[i], spec: Spec{Config: dir + pairs[i]}, err: pairs[i+1]})
	}
	return out
}

func runParseCases(t *testing.T, d *Daemon, root string, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Parse(&Files{Root: root}, c.spec)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one holding %q (got %v)", err, c.err, got)
				}
				// A file that cannot be opened has no line to name; every
				// other error names one.
				var le *LineError
				if !errors.As(err, &le) && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
					t.Errorf("error %v names no file and line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			webCheck(t, got, c.want)
		})
	}
}

func webCheck(t *testing.T, got, want []Listen) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d listens, want %d", len(got), len(want))
	}
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w Listen
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("[%d] got  %+v\n    want %+v", i, g, w)
		}
	}
}

// webFuzz parses data as the main file cfg of a fake root and checks that
// every socket returned is well formed; a panic fails the fuzz run.
func webFuzz(f *testing.F, d *Daemon, cfg string, seeds ...string) {
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// One root per fuzzing process, its file rewritten at each input: a
	// directory made and removed at each one costs more than the parse.
	root := f.TempDir()
	host := filepath.Join(root, cfg)
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(host, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := d.Parse(&Files{Root: root}, Spec{Config: cfg, Argv: []string{d.Binaries[0]}})
		if err != nil {
			return
		}
		for _, l := range got {
			if l.Proto != "tcp" && l.Proto != "udp" || l.Port < 1 || l.Port > 65535 || l.File == "" {
				t.Fatalf("bad listen %+v", l)
			}
			if l.Address != "" {
				if _, err := netip.ParseAddr(l.Address); err != nil {
					t.Fatalf("bad address in %+v", l)
				}
			}
		}
	})
}
