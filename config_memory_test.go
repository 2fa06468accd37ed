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
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// maxConfigCheckRSS is what the exporter may take, at its peak, to check
// the worst config file it accepts to read: the 64 MiB memory limit of the
// shipped DaemonSet. Alone on this machine the worst shape peaks at
// 30-39 MiB; one run of CI, with every package's tests in parallel, read
// 50.7 MiB for the same file (the GC's pacing under CPU starvation), so
// the bound is the limit itself, not the typical figure.
const maxConfigCheckRSS = 64 << 20

// fillTo writes head, then the units each gives (the i-th for i = 0, 1,
// ...) until it gives "" or the next would not fit, then tail: a document
// as long as it can be without passing size bytes.
func fillTo(size int, head, tail string, each func(i int) string) []byte {
	var b bytes.Buffer
	b.WriteString(head)
	for i := 0; ; i++ {
		u := each(i)
		if u == "" || b.Len()+len(u)+len(tail) > size {
			break
		}
		b.WriteString(u)
	}
	b.WriteString(tail)
	return b.Bytes()
}

func repeat(unit string) func(int) string { return func(int) string { return unit } }

// worstCaseConfigs are the shapes of file that cost the most memory per
// byte, each as large as the file-size limit allows: the most YAML nodes
// per byte (a node costs yaml.v3 ~170 bytes), the most our decoder keeps
// per node (paths, lines, errors), the longest scalar, the most expensive
// regular expressions, the deepest nesting, and aliases that multiply what
// the decoder builds.
func worstCaseConfigs(size int) map[string][]byte {
	const check = "checks:\n  - name: a\n    unit: a.service\n"
	cases := map[string][]byte{
		"keys without values in a flow mapping":  fillTo(size, "x: {", "a}\n", repeat("a,")),
		"explicit empty keys in a block mapping": fillTo(size, "x:\n", "", repeat("?\n")),
		"unknown keys in a check":                fillTo(size, "checks: [{", "a}]\n", repeat("a,")),
		"a flow list the decoder walks":          fillTo(size, check+"    depends_on: [", "a]\n", repeat("a,")),
		"empty ports":                            fillTo(size, check+"    ports: [", "{}]\n", repeat("{},")),
		"a flow list of ports": fillTo(size, check+"    ports: [", "{port: 1}]\n", func(i int) string {
			return fmt.Sprintf("{port: %d},", i%65535+1)
		}),
		"as many checks as fit": fillTo(size, "checks:\n", "", func(i int) string {
			return fmt.Sprintf("- {name: c%d, ports: [{port: 1}]}\n", i)
		}),
		// A valid config: the most checks allowed, padded with a comment.
		"the most checks allowed": fillTo(size, string(fillTo(size, "checks:\n", "", func(i int) string {
			if i == config.MaxChecks {
				return ""
			}
			return fmt.Sprintf("- {name: c%d, unit: c%d.service, ports: [{port: %d}]}\n", i, i, i+1)
		})), "", repeat("#\n")),
		"one long scalar": fillTo(size, check+"    depends_on: [", "]\n", repeat("aaaaaaaaaaaaaaaa")),
		"expensive regular expressions": fillTo(size, check+"    probes:\n      - target: 127.0.0.1:1\n        query_response:\n", "", func(i int) string {
			return fmt.Sprintf("          - expect: '[a-z]{1000}[a-z]{1000}[a-z]{1000}%d'\n", i)
		}),
		"many small regular expressions": fillTo(size, check+"    probes:\n      - target: 127.0.0.1:1\n        query_response: [", "{expect: a}]\n", func(i int) string {
			return fmt.Sprintf("{expect: a%d},", i)
		}),
		"comments": fillTo(size, "discovery: {enabled: true}\n", "", repeat("#\n")),
		// Steps that send the files TestWorstCaseConfigMemoryIsBounded
		// writes beside the config: 20 of the most send_file allows.
		"send_file steps": fillTo(size, check+"    probes:\n      - target: 127.0.0.1:1\n        query_response: [", "{send_file: send0}]\n", func(i int) string {
			return fmt.Sprintf("{send_file: send%d},", i%20)
		}),
	}
	// As deep as YAML nests (yaml.v3 stops at 10,000 levels) within the
	// limit.
	depth := min(size/2-16, 9999)
	nested := "checks: " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
	cases["deep nesting"] = fillTo(size, nested, "", repeat("#\n"))

	// One anchored list of probes, each with an exchange, aliased by as
	// many checks as fit: the decoder builds every alias anew.
	var anchor strings.Builder
	anchor.WriteString("checks:\n  - name: c0\n    probes: &p\n")
	for i := range 200 {
		fmt.Fprintf(&anchor, "      - {target: '127.0.0.%d:1', query_response: [{send: x}, {expect: '^\\+OK'}]}\n", i%250+1)
	}
	cases["an anchored list aliased by every check"] = fillTo(size, anchor.String(), "", func(i int) string {
		return fmt.Sprintf("  - {name: c%d, probes: *p}\n", i+1)
	})
	return cases
}

// rusageHelperSource runs a command and prints its exit code and peak RSS
// (ru_maxrss, KiB). See runConfigCheck for why it is needed.
const rusageHelperSource = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(cmd.ProcessState.ExitCode(), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
}
`

// buildRusageHelper builds rusageHelperSource, without -race whatever the
// tests run with, and returns its path and its own peak RSS in bytes.
func buildRusageHelper(t *testing.T) (string, int64) {
	t.Helper()
	goTool := testenv.LookPath(t, "go", "the Go toolchain, to build a small helper")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module rusagehelper\n\ngo 1.21\n")
	writeFile(t, filepath.Join(dir, "main.go"), rusageHelperSource)
	build := exec.Command(goTool, "build", "-o", "helper", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the rusage helper: %v\n%s", err, out)
	}
	helper := filepath.Join(dir, "helper")
	out, err := exec.Command(helper, "/bin/true").Output()
	var code int
	var self int64
	if _, serr := fmt.Sscanf(string(out), "%d %d", &code, &self); err != nil || serr != nil {
		t.Fatalf("the rusage helper on /bin/true: %v %v %q", err, serr, out)
	}
	return helper, self << 10
}

// runConfigCheck runs --config.check on file (bounded) through helper and
// returns its stderr, exit code and peak RSS in bytes.
//
// The peak is ru_maxrss, but not of a child of this process: Go starts
// processes with vfork, and at exec Linux carries the parent's high-water
// RSS into the child's ru_maxrss, so every reading would be at least this
// test process's own peak (48.6 MiB whatever the file, under -race). The
// helper is a small fresh parent: a reading is the child's peak or, if
// that was lower, about the helper's (~2 MiB).
func runConfigCheck(t *testing.T, helper, file string) (string, int, int64) {
	t.Helper()
	cmd := exec.Command(helper, binary, "--config.check", "--config.file="+file)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the rusage helper: %v\n%s", err, errOut.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("--config.check %s did not exit within 60s", file)
	}
	var code int
	var rss int64
	if _, err := fmt.Sscanf(out.String(), "%d %d", &code, &rss); err != nil {
		t.Fatalf("the rusage helper said %q: %v", out.String(), err)
	}
	return errOut.String(), code, rss << 10 // KiB on Linux
}

// The worst file the exporter agrees to read costs it less than 64 MiB at
// its peak (an 8 MiB file used to cost ~818 MB, and 512 KiB ~94 MB).
func TestWorstCaseConfigMemoryIsBounded(t *testing.T) {
	helper, floor := buildRusageHelper(t)
	t.Logf("the rusage helper's own peak RSS: %.1f MiB", float64(floor)/(1<<20))
	dir := t.TempDir()
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("send%d", i)), bytes.Repeat([]byte("x"), 64<<10), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, doc := range worstCaseConfigs(config.MaxFileSize) {
		t.Run(name, func(t *testing.T) {
			if len(doc) > config.MaxFileSize || len(doc) < config.MaxFileSize*9/10 {
				t.Fatalf("the file is %d bytes: it must be just under the limit of %d", len(doc), config.MaxFileSize)
			}
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yml")
			if err := os.WriteFile(file, doc, 0o600); err != nil {
				t.Fatal(err)
			}
			errOut, code, rss := runConfigCheck(t, helper, file)
			// Two of them are valid configs; the others are refused.
			want := exitConfig
			if name == "the most checks allowed" || name == "comments" {
				want = 0
			}
			if code != want {
				t.Errorf("exit code %d, want %d:\n%.2000s", code, want, errOut)
			}
			t.Logf("%s: %d bytes, exit %d, peak RSS %.1f MiB", name, len(doc), code, float64(rss)/(1<<20))
			if rss >= maxConfigCheckRSS {
				t.Errorf("peak RSS %.1f MiB, want < %d MiB", float64(rss)/(1<<20), maxConfigCheckRSS>>20)
			}
		})
	}
}

// procStatus reads a field of /proc/<pid>/status, in bytes ("VmRSS").
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kib int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kib); err != nil {
				t.Fatal(err)
			}
			return kib << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// What a reload took is given back to the system once it is done, not
// kept (a reload of an 8 MiB file used to leave the process at ~818 MB):
// at least half of what the reload of a worst-case file added to the RSS
// is gone once it has answered.
func TestReloadGivesItsMemoryBack(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "warden.yml")
	writeFile(t, cfgPath, "checks:\n  - name: first\n    ports: [{port: 22}]\n")
	p := startExporter(t, "--config.file="+cfgPath, "--no-collector.systemd", "--no-collector.listeners", "--no-collector.probes", "--web.enable-lifecycle")
	pid := p.cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")

	if err := os.WriteFile(cfgPath, worstCaseConfigs(config.MaxFileSize)["keys without values in a flow mapping"], 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, p.url("/-/reload")); code != 500 {
		t.Fatalf("reload of a worst-case file: %d %s", code, body)
	}
	peak := procStatus(t, pid, "VmHWM")
	if peak-before < 8<<20 {
		t.Fatalf("the reload added only %d KiB to the RSS (%d KiB before): not the file this test needs", (peak-before)>>10, before>>10)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rss := procStatus(t, pid, "VmRSS")
		if rss <= before+(peak-before)/2 {
			t.Logf("RSS %d KiB before, %d KiB at the peak of the reload, %d KiB after", before>>10, peak>>10, rss>>10)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RSS %d KiB 10s after the reload, %d KiB before it and %d KiB at its peak: the reload's memory is kept", rss>>10, before>>10, peak>>10)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, body := get(t, p.url("/config")); !strings.Contains(body, "name: first") {
		t.Errorf("the previous config must stay in effect:\n%s", body)
	}
}
