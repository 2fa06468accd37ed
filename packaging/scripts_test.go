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

package packaging_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// fakeRoot runs copies of the maintainer scripts with their paths moved
// under a directory of the test's, and stubs for the commands that would
// change the machine (systemctl, getent, chgrp) that log what they were
// asked.
type fakeRoot struct {
	t        *testing.T
	sh       string
	dir      string // stands for /
	stubs    string
	log      string // what the stubs were asked, one line a call
	scripts  map[string]string
	stateDir string // the service user's /var/lib/warden_exporter
}

func newFakeRoot(t *testing.T) *fakeRoot {
	t.Helper()
	r := &fakeRoot{t: t, sh: testenv.LookPath(t, "sh", "apt-get install dash"), dir: t.TempDir(), stubs: t.TempDir(), scripts: map[string]string{}}
	r.log = filepath.Join(r.stubs, "calls.log")
	r.stateDir = filepath.Join(r.dir, "var/lib/warden_exporter")
	for _, d := range []string{r.stateDir, filepath.Join(r.dir, "etc/warden_exporter")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, stub := range []string{"systemctl", "getent", "chgrp"} {
		script := "#!/bin/sh\necho \"" + stub + " $*\" >>" + r.log + "\n"
		if err := os.WriteFile(filepath.Join(r.stubs, stub), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		text := readFile(t, filepath.Join("scripts", name))
		for _, dir := range []string{"/var/lib/", "/etc/warden_exporter"} {
			text = strings.ReplaceAll(text, dir, r.dir+dir)
		}
		path := filepath.Join(r.stubs, name)
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		r.scripts[name] = path
	}
	return r
}

// run runs a script copy with args and returns what the stubs were asked.
func (r *fakeRoot) run(script string, args ...string) string {
	r.t.Helper()
	os.Remove(r.log)
	cmd := exec.Command(r.sh, append([]string{r.scripts[script]}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+r.stubs+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
	calls, _ := os.ReadFile(r.log)
	return string(calls)
}

// tree lists what is under dir with each entry's mode, size and mtime.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := os.Lstat(path); err == nil {
			out[path] = fi.Mode().String() + " " + fi.ModTime().Format(time.RFC3339Nano) + " " + strings.Repeat("x", int(min(fi.Size(), 64)))
		}
		return nil
	})
	return out
}

// The prerm ran `: >/var/lib/warden_exporter/.package-removed` as root in
// the directory the service user owns: a symlink that user planted there
// made removing the package truncate any file (/etc/shadow). No maintainer
// script may write in that directory: a symlink at every name a script
// gives there, and at the old flag's, must lead nowhere, and nothing in it
// may change, through a first install, an upgrade, a remove, an install
// after the remove, and a purge.
func TestMaintainerScriptsNeverWriteWhereTheServiceUserCan(t *testing.T) {
	r := newFakeRoot(t)
	victim := filepath.Join(r.dir, "etc/shadow")
	if err := os.WriteFile(victim, []byte("root:$y$j9T$precious:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{".package-removed": true}
	pathRe := regexp.MustCompile(`/var/lib/warden_exporter/([^\s"';)}]+)`)
	for _, name := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
		for _, m := range pathRe.FindAllStringSubmatch(readFile(t, filepath.Join("scripts", name)), -1) {
			names[m[1]] = true
		}
	}
	// The service user plants them while the service runs, between any
	// two steps.
	var before map[string]string
	plant := func() {
		t.Helper()
		for name := range names {
			link := filepath.Join(r.stateDir, name)
			if _, err := os.Lstat(link); err != nil {
				if err := os.Symlink(victim, link); err != nil {
					t.Fatal(err)
				}
			}
		}
		before = tree(t, r.stateDir)
	}
	unchanged := func(step string) {
		t.Helper()
		if got := readFile(t, victim); !strings.Contains(got, "precious") {
			t.Fatalf("after %s, the file a symlink in the service user's directory points to holds %q: a script wrote through it", step, got)
		}
		after := tree(t, r.stateDir)
		for path, was := range before {
			if after[path] != was {
				t.Errorf("after %s, %s changed: %q -> %q", step, path, was, after[path])
			}
		}
		for path := range after {
			if _, ok := before[path]; !ok {
				t.Errorf("after %s, %s is new: a maintainer script wrote in the service user's directory", step, path)
			}
		}
	}
	flag := filepath.Join(r.dir, "var/lib/warden-exporter-package/removed")

	plant()
	if calls := r.run("postinstall.sh", "configure"); !strings.Contains(calls, "systemctl enable warden_exporter.service") {
		t.Errorf("a first install does not enable the service: %q", calls)
	}
	unchanged("a first install")
	plant()
	if calls := r.run("postinstall.sh", "configure", "9.8.6"); strings.Contains(calls, "systemctl enable") {
		t.Errorf("an upgrade enables the service (an operator's disable must stay): %q", calls)
	}
	unchanged("an upgrade")
	plant()
	r.run("preremove.sh", "remove")
	unchanged("a remove")
	plant()
	if fi, err := os.Lstat(flag); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the remove left no flag in root's own directory: %v", err)
	}
	if calls := r.run("postinstall.sh", "configure", "9.8.6"); !strings.Contains(calls, "systemctl enable warden_exporter.service") {
		t.Errorf("installing again after a remove does not enable the service like a first install: %q", calls)
	}
	unchanged("an install after a remove")
	plant()
	if _, err := os.Lstat(filepath.Dir(flag)); err == nil {
		t.Error("the flag's directory outlives the install that read it")
	}
	r.run("preremove.sh", "remove")
	r.run("postremove.sh", "purge")
	if !strings.Contains(readFile(t, victim), "precious") {
		t.Fatal("the purge wrote through a symlink")
	}
	for _, d := range []string{r.stateDir, filepath.Dir(flag)} {
		if _, err := os.Lstat(d); err == nil {
			t.Errorf("%s outlives the purge", d)
		}
	}
}

// config.yml may carry TLS keys: it ships 0640 root:root and the
// postinstall script gives it to the service's group once the user exists,
// leaving an administrator's own owner or mode alone.
func TestPostinstallGivesTheConfigToTheServiceGroup(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		link bool
		want bool
	}{
		{name: "as shipped", mode: 0o640, want: os.Geteuid() == 0}, // root:root only when the test runs as root
		{name: "an administrator's 0644", mode: 0o644},
		{name: "a symlink to elsewhere", mode: 0o640, link: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newFakeRoot(t)
			config := filepath.Join(r.dir, "etc/warden_exporter/config.yml")
			target := config
			if tc.link {
				target = filepath.Join(r.dir, "elsewhere.yml")
				if err := os.Symlink(target, config); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(target, []byte("discovery: {enabled: true}\n"), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(target, tc.mode) // past the umask
			calls := r.run("postinstall.sh", "configure")
			if got := strings.Contains(calls, "chgrp warden_exporter "+config); got != tc.want {
				t.Errorf("chgrp warden_exporter %s: %v, want %v (calls %q)", config, got, tc.want, calls)
			}
		})
	}
}
