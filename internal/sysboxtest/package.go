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

//go:build linux

package sysboxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// Packages builds the exporter's packages (make package in the repository
// at root) into a new directory to pass as Options.Bind: one set per
// version given, and one of the VERSION file's version, which it returns.
// The binaries go to the directory too, never to the work tree.
func Packages(t testing.TB, root string, versions ...string) (dir, current string) {
	t.Helper()
	testenv.LookPath(t, "make", "apt-get install make")
	dir = t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // the container reads it as another user
		t.Fatal(err)
	}
	v, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	current = strings.TrimSpace(string(v))
	for _, version := range append(versions, current) {
		cmd := exec.Command("make", "--no-print-directory", "package", "VERSION="+version, "DIST="+dir,
			"BIN="+filepath.Join(dir, "build-"+version, "warden_exporter"))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make package VERSION=%s: %v\n%s", version, err, out)
		}
	}
	return dir, current
}

// Deb is the path inside the container of the .deb Packages built for
// version.
func Deb(version string) string {
	return BindTarget + "/warden-exporter_" + version + "_amd64.deb"
}
