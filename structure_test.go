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

package main

import (
	"bufio"
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The project's shape is a rule, not a habit: these tests fail the suite
// when the judge imports a reader again (before issue 22 it imported
// systemd, listeners, owner and probe, and with them godbus and procfs) or
// a source file grows past what one reader holds in mind (cache.go was 1,164
// lines, discovery.go 946).

const modulePath = "github.com/warden-exporter/warden_exporter"

// judgeImportsAllowed is everything internal/verdict may import besides the
// standard library: the config it judges against, nothing that reads.
var judgeImportsAllowed = map[string]bool{modulePath + "/config": true}

func TestTheJudgeImportsOnlyConfigAndTheStandardLibrary(t *testing.T) {
	files, err := filepath.Glob("internal/verdict/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources of internal/verdict found (%v): run from the module root", err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
			}
			if standardLibrary(path) || judgeImportsAllowed[path] {
				continue
			}
			t.Errorf("%s imports %s: the judge takes data, it imports no reader nor a third-party package (only config and the standard library)", name, path)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no non-test source of internal/verdict was checked")
	}
}

// standardLibrary reports whether path is a standard-library import: the
// first element of every other path is a domain, which has a dot.
func standardLibrary(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// maxSourceLines is the size past which a non-test file has more than one
// job (the style guide's "none over ~700 lines").
const maxSourceLines = 700

func TestNoSourceFileIsOverSevenHundredLines(t *testing.T) {
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		lines, err := countLines(path)
		if err != nil {
			return err
		}
		if lines > maxSourceLines {
			t.Errorf("%s has %d lines, over %d: split it along its jobs", path, lines, maxSourceLines)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("only %d source files checked: not run from the module root?", checked)
	}
}

func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), len(b)+1)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}
