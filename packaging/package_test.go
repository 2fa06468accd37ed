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

// Package packaging_test builds the .deb and the .rpm with `make package`
// and checks what they hold, without installing them.
package packaging_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// testVersion is not the VERSION file's: it proves `make package
// VERSION=...` reaches both the packages and the binary's stamp.
const testVersion = "9.8.7"

// The regular files each package installs.
var (
	debFiles = []string{
		"/etc/default/warden_exporter",
		"/etc/warden_exporter/config.yml",
		"/lib/systemd/system/warden_exporter.service",
		"/usr/bin/warden_exporter",
		"/usr/lib/sysusers.d/warden_exporter.conf",
		"/usr/share/doc/warden-exporter/README.md",
		"/usr/share/doc/warden-exporter/config.example.yml",
		"/usr/share/doc/warden-exporter/copyright",
	}
	rpmFiles = []string{
		"/etc/default/warden_exporter",
		"/etc/warden_exporter/config.yml",
		"/usr/bin/warden_exporter",
		"/usr/lib/systemd/system/warden_exporter.service",
		"/usr/lib/sysusers.d/warden_exporter.conf",
		"/usr/share/doc/warden-exporter/README.md",
		"/usr/share/doc/warden-exporter/config.example.yml",
		"/usr/share/licenses/warden-exporter/LICENSE",
	}
	conffiles = []string{"/etc/default/warden_exporter", "/etc/warden_exporter/config.yml"}
)

// withDocs adds the docs/ pages and images the README links to, as the
// package installs them beside it, and sorts.
func withDocs(t *testing.T, files []string) []string {
	t.Helper()
	var docs []string
	for _, pattern := range []string{"../docs/*.md", "../docs/images/*.png"} {
		m, err := filepath.Glob(pattern)
		if err != nil || len(m) == 0 {
			t.Fatalf("no %s in the repository (%v)", pattern, err)
		}
		docs = append(docs, m...)
	}
	out := slices.Clone(files)
	for _, d := range docs {
		out = append(out, "/usr/share/doc/warden-exporter/"+strings.TrimPrefix(d, "../"))
	}
	slices.Sort(out)
	return out
}

// built is the output of one `make package`, shared by the tests.
type built struct {
	deb, rpm string // package files
	root     string // the .deb extracted
}

func buildPackages(t *testing.T) built {
	t.Helper()
	mk := testenv.LookPath(t, "make", "apt-get install make")
	testenv.LookPath(t, "go", "Go on PATH")
	testenv.LookPath(t, "dpkg-deb", "apt-get install dpkg")
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	// Bounded: a cold module and build cache costs about a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, "--no-print-directory", "-C", "..", "package",
		"DIST="+dist, "BIN="+filepath.Join(dir, "warden_exporter"), "VERSION="+testVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	var b built
	for _, pattern := range []string{"*.deb", "*.rpm"} {
		matches, _ := filepath.Glob(filepath.Join(dist, pattern))
		if len(matches) != 1 {
			entries, _ := os.ReadDir(dist)
			t.Fatalf("want one %s in %s, have %v", pattern, dist, entries)
		}
		if pattern == "*.deb" {
			b.deb = matches[0]
		} else {
			b.rpm = matches[0]
		}
	}
	b.root = filepath.Join(dir, "root")
	run(t, "dpkg-deb", "-x", b.deb, b.root)
	return b
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s%s", name, args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func TestPackages(t *testing.T) {
	b := buildPackages(t)

	t.Run("deb control", func(t *testing.T) {
		fields := run(t, "dpkg-deb", "-f", b.deb, "Package", "Version", "Architecture")
		arch := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(b.deb), "warden-exporter_"+testVersion+"_"), ".deb")
		want := "Package: warden-exporter\nVersion: " + testVersion + "\nArchitecture: " + arch + "\n"
		if fields != want {
			t.Errorf("control fields:\n%s\nwant:\n%s", fields, want)
		}
		if dpkg, err := exec.LookPath("dpkg"); err == nil {
			if native, err := exec.Command(dpkg, "--print-architecture").Output(); err == nil && strings.TrimSpace(string(native)) != arch {
				t.Errorf("the .deb is for %s, this machine is %s", arch, native)
			}
		}
	})

	t.Run("deb files", func(t *testing.T) {
		var files []string
		for _, l := range strings.Split(run(t, "dpkg-deb", "-c", b.deb), "\n") {
			f := strings.Fields(l)
			if len(f) < 6 || !strings.HasPrefix(f[0], "-") {
				continue // directories
			}
			files = append(files, strings.TrimPrefix(f[5], "."))
			if f[1] != "root/root" {
				t.Errorf("%s is owned by %s", f[5], f[1])
			}
			// It may carry TLS keys; postinst gives it to the group.
			if f[5] == "./etc/warden_exporter/config.yml" && f[0] != "-rw-r-----" {
				t.Errorf("%s is %s, want -rw-r----- (0640)", f[5], f[0])
			}
		}
		slices.Sort(files)
		if want := withDocs(t, debFiles); !slices.Equal(files, want) {
			t.Errorf("files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
		}
		if got := lines(run(t, "dpkg-deb", "-I", b.deb, "conffiles")); !slices.Equal(got, conffiles) {
			t.Errorf("conffiles %v, want %v", got, conffiles)
		}
	})

	t.Run("maintainer scripts", func(t *testing.T) {
		for control, src := range map[string]string{"postinst": "postinstall.sh", "prerm": "preremove.sh", "postrm": "postremove.sh"} {
			got := run(t, "dpkg-deb", "-I", b.deb, control)
			if got != readFile(t, filepath.Join("scripts", src)) {
				t.Errorf("%s is not scripts/%s", control, src)
			}
			if out, err := exec.Command("sh", "-n", filepath.Join("scripts", src)).CombinedOutput(); err != nil {
				t.Errorf("sh -n scripts/%s: %v\n%s", src, err, out)
			}
		}
		post := readFile(t, "scripts/postinstall.sh")
		for _, want := range []string{"configure)", "[0-9]*)", "systemd-sysusers /usr/lib/sysusers.d/warden_exporter.conf", "adduser --system", "[ -d /run/systemd/system ]", "systemctl enable", "systemctl start", "systemctl try-restart"} {
			if !strings.Contains(post, want) {
				t.Errorf("postinst lacks %q", want)
			}
		}
		if !strings.Contains(readFile(t, "scripts/postremove.sh"), "rm -rf /var/lib/warden_exporter") {
			t.Error("postrm does not remove the state on purge")
		}
	})

	t.Run("unit", func(t *testing.T) {
		unit := readFile(t, filepath.Join(b.root, "lib/systemd/system/warden_exporter.service"))
		if unit != readFile(t, "../examples/systemd/warden_exporter.service") {
			t.Error("the packaged unit is not examples/systemd/warden_exporter.service")
		}
		directives := map[string][]string{}
		for l := range strings.SplitSeq(unit, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
				directives[k] = append(directives[k], v)
			}
		}
		for key, want := range map[string][]string{
			"User":                     {"warden_exporter"},
			"Group":                    {"warden_exporter"},
			"StateDirectory":           {"warden_exporter"},
			"EnvironmentFile":          {"-/etc/default/warden_exporter"},
			"ExecStart":                {"/usr/bin/warden_exporter --config.file=/etc/warden_exporter/config.yml --discovery.state-file=/var/lib/warden_exporter/learned.json $ARGS"},
			"ExecReload":               {"/usr/bin/warden_exporter --config.file=/etc/warden_exporter/config.yml --config.check $ARGS", "/bin/kill -HUP $MAINPID"},
			"RestartPreventExitStatus": {"64 78"},
			"DynamicUser":              nil,
			"ExecStartPre":             nil,
			"CapabilityBoundingSet":    {""},
			"ProtectSystem":            {"strict"},
			"NoNewPrivileges":          {"yes"},
			"RestrictAddressFamilies":  {"AF_UNIX AF_INET AF_INET6 AF_NETLINK"},
			"SystemCallFilter":         {"@system-service", "~@privileged @resources"},
			"WantedBy":                 {"multi-user.target"},
			"ConfigurationDirectory":   {"warden_exporter"},
			"MemoryDenyWriteExecute":   {"yes"},
			"RestrictNamespaces":       {"yes"},
			"ProtectKernelTunables":    {"yes"},
			"ProtectControlGroups":     {"yes"},
			"PrivateDevices":           {"yes"},
			"SystemCallArchitectures":  {"native"},
			"ProtectHome":              {"yes"},
			"PrivateTmp":               {"yes"},
			"UMask":                    {"0077"},
			"AmbientCapabilities":      {""},
			"Restart":                  {"on-failure"},
			"ProtectKernelModules":     {"yes"},
			"ProtectKernelLogs":        {"yes"},
			"ProtectClock":             {"yes"},
			"ProtectHostname":          {"yes"},
			"RestrictRealtime":         {"yes"},
			"RestrictSUIDSGID":         {"yes"},
			"LockPersonality":          {"yes"},
			"RemoveIPC":                {"yes"},
			"ProtectProc":              {"default"},
		} {
			if !slices.Equal(directives[key], want) {
				t.Errorf("%s=%q, want %q", key, directives[key], want)
			}
		}
		sysusers := readFile(t, filepath.Join(b.root, "usr/lib/sysusers.d/warden_exporter.conf"))
		if !regexp.MustCompile(`(?m)^u\s+warden_exporter\s+-\s`).MatchString(sysusers) {
			t.Errorf("sysusers.d file does not create the user:\n%s", sysusers)
		}
		if !regexp.MustCompile(`(?m)^ARGS=""$`).MatchString(readFile(t, filepath.Join(b.root, "etc/default/warden_exporter"))) {
			t.Error(`/etc/default/warden_exporter lacks ARGS=""`)
		}
	})

	t.Run("binary and config", func(t *testing.T) {
		bin := filepath.Join(b.root, "usr/bin/warden_exporter")
		if out := run(t, bin, "--version"); !strings.Contains(out, "warden_exporter, version "+testVersion+" ") {
			t.Errorf("--version: %s", out)
		}
		// The shipped config is the embedded default: discovery, no checks.
		cfg := filepath.Join(b.root, "etc/warden_exporter/config.yml")
		if out := run(t, bin, "--config.check", "--config.file="+cfg); out != "OK: "+cfg+" (0 checks, discovery enabled)\n" {
			t.Errorf("--config.check: %q", out)
		}
		// Its commented example checks are valid once uncommented.
		text := readFile(t, cfg)
		i := strings.Index(text, "\n# checks:\n")
		if i < 0 {
			t.Fatal("config.yml has no commented checks: example")
		}
		var example strings.Builder
		example.WriteString("discovery: {enabled: true}\n")
		for l := range strings.SplitSeq(text[i+1:], "\n") {
			example.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ") + "\n")
		}
		uncommented := filepath.Join(t.TempDir(), "config.yml")
		if err := os.WriteFile(uncommented, []byte(example.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "--config.check", "--config.file="+uncommented).CombinedOutput(); err != nil || !strings.Contains(string(out), "(2 checks, discovery enabled)") {
			t.Errorf("the commented example, uncommented: %v\n%s\n%s", err, out, example.String())
		}
	})

	t.Run("rpm", func(t *testing.T) {
		rpm := testenv.LookPath(t, "rpm", "apt-get install rpm")
		if !strings.HasSuffix(b.rpm, "_"+testVersion+"_"+rpmArch(t, rpm, b.rpm)+".rpm") {
			t.Errorf("rpm file name %s", filepath.Base(b.rpm))
		}
		if got := run(t, rpm, "-qp", "--qf", "%{NAME} %{VERSION}\n", b.rpm); got != "warden-exporter "+testVersion+"\n" {
			t.Errorf("rpm name and version: %q", got)
		}
		if got, want := lines(run(t, rpm, "-qpl", b.rpm)), withDocs(t, rpmFiles); !slices.Equal(got, want) {
			t.Errorf("rpm files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if got := lines(run(t, rpm, "-qpc", b.rpm)); !slices.Equal(got, conffiles) {
			t.Errorf("rpm config files %v, want %v", got, conffiles)
		}
		if got := run(t, rpm, "-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]", b.rpm); !strings.Contains(got, "-rw-r----- /etc/warden_exporter/config.yml\n") {
			t.Errorf("rpm: config.yml is not 0640:\n%s", got)
		}
		scripts := run(t, rpm, "-qp", "--scripts", b.rpm)
		for _, s := range []string{"postinstall scriptlet", "preuninstall scriptlet", "postuninstall scriptlet", "[0-9]*)"} {
			if !strings.Contains(scripts, s) {
				t.Errorf("rpm scripts lack %q:\n%s", s, scripts)
			}
		}
	})
}

// rpmArch is the architecture the rpm declares (x86_64 for amd64).
func rpmArch(t *testing.T, rpm, file string) string {
	t.Helper()
	return strings.TrimSpace(run(t, rpm, "-qp", "--qf", "%{ARCH}", file))
}
