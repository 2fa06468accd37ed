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
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/systemdtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// These tests run the real binary, built once, as an operator would: flags,
// signals, real sockets on loopback.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warden-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "warden_exporter")
	if prebuilt := os.Getenv("WARDEN_TEST_BINARY"); prebuilt != "" {
		// scripts/test-unprivileged.sh builds as root and runs the tests
		// as nobody, who has no Go toolchain to build with.
		binary = prebuilt
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	build := exec.Command("go", "build", "-o", binary,
		"-ldflags", "-X github.com/prometheus/common/version.Version=0.0.0-test -X github.com/prometheus/common/version.Revision=testrev",
		".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exporterProcess is one running exporter started by a test.
type exporterProcess struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	logs *syncBuffer
	done chan struct{}
	err  error // exit status, once done is closed
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listeningRe finds exporter-toolkit's "Listening on" line in logfmt or JSON.
var listeningRe = regexp.MustCompile(`msg="Listening on" address=(\S+)|"address":"([^"]+)"[^\n]*"msg":"Listening on"`)

// startExporter runs the binary on a free loopback port and waits (bounded)
// until it says where it listens. With a --web.listen-address of the test's
// own (for runs that do not log at info), it waits until /-/healthy answers
// there instead. The process is killed, by its pid, when the test ends.
func startExporter(t *testing.T, args ...string) *exporterProcess {
	t.Helper()
	return startWrapped(t, nil, args...)
}

// startWrapped is startExporter with the binary run by the command wrap
// (its arguments, then the binary's path and args): one that ends by
// exec'ing it, so the pid is still the exporter's.
func startWrapped(t *testing.T, wrap []string, args ...string) *exporterProcess {
	t.Helper()
	p := &exporterProcess{logs: &syncBuffer{}, done: make(chan struct{})}
	fixedAddr := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			fixedAddr = v
		}
	}
	if fixedAddr == "" {
		args = append([]string{"--web.listen-address=127.0.0.1:0"}, args...)
	}
	cmdline := append(append(slices.Clone(wrap), binary), args...)
	p.cmd = exec.Command(cmdline[0], cmdline[1:]...)
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	p.cmd.Stdout = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if m := listeningRe.FindStringSubmatch(line); m != nil && fixedAddr == "" {
				select {
				case addrCh <- m[1] + m[2]:
				default:
				}
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("exporter log:\n%s", p.logs.String())
		}
	})
	if fixedAddr != "" {
		go func() {
			for {
				select {
				case <-p.done:
					return
				default:
				}
				if resp, err := http.Get("http://" + fixedAddr + "/-/healthy"); err == nil {
					resp.Body.Close()
					addrCh <- fixedAddr
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	select {
	case p.addr = <-addrCh:
	case <-p.done:
		t.Fatalf("exporter exited before listening: %v\n%s", p.err, p.logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("exporter did not listen within 15s:\n%s", p.logs.String())
	}
	return p
}

func (p *exporterProcess) url(path string) string { return "http://" + p.addr + path }

// waitExit waits (bounded) for the process to exit and returns its code.
func (p *exporterProcess) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("exporter did not exit within 15s")
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitForLog waits (bounded) until the log contains s.
func (p *exporterProcess) waitForLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q:\n%s", s, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// runBinary runs the binary to completion (bounded) and returns its output.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit within 15s", args)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func metricLine(t *testing.T, body, prefix string) string {
	t.Helper()
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return strings.TrimPrefix(line, prefix+" ")
		}
	}
	t.Fatalf("no %s in:\n%s", prefix, body)
	return ""
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := runBinary(t, "--version")
	if code != 0 || !strings.Contains(out, "warden_exporter, version 0.0.0-test") || !strings.Contains(out, "revision: testrev") {
		t.Errorf("--version: code %d, output:\n%s", code, out)
	}
	out, _, code = runBinary(t, "--help")
	for _, flag := range []string{"--config.file", "config.check", "--web.listen-address", "--web.config.file", "web.systemd-socket", "--web.telemetry-path", "--web.max-requests", "--log.level", "--log.format", "--scrape.timeout-offset", "--runtime.gomaxprocs"} {
		if !strings.Contains(out, flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
	if code != 0 {
		t.Errorf("--help exit code %d", code)
	}
	_, errOut, code := runBinary(t, "--no-such-flag")
	if code != 64 || !strings.Contains(errOut, "unknown long flag '--no-such-flag'") {
		t.Errorf("unknown flag: code %d, stderr %q", code, errOut)
	}
}

func TestEmbeddedDefaultServesLandingAndMetrics(t *testing.T) {
	p := startExporter(t)

	code, body := get(t, p.url("/"))
	if code != 200 || !strings.Contains(body, "warden_exporter") || !strings.Contains(body, `href="/metrics"`) || !strings.Contains(body, `href="/config"`) || !strings.Contains(body, "0.0.0-test") {
		t.Errorf("landing page: %d\n%s", code, body)
	}

	code, body = get(t, p.url("/metrics"))
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`warden_exporter_build_info{branch="",goarch="amd64",goos="linux",goversion="`,
		`revision="testrev",tags="unknown",version="0.0.0-test"} 1`,
		"warden_config_last_reload_successful 1",
		"process_open_fds ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if metricLine(t, body, "warden_config_last_reload_success_timestamp_seconds") == "0" {
		t.Error("the initial load must set the success timestamp")
	}

	for path, want := range map[string]string{"/-/healthy": "Healthy", "/-/ready": "Ready"} {
		if code, body := get(t, p.url(path)); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	code, body = get(t, p.url("/config"))
	if code != 200 || !strings.Contains(body, "# source: (embedded default)") || !strings.Contains(body, "discovery:\n  enabled: true") {
		t.Errorf("/config: %d\n%s", code, body)
	}
}

// The exporter runs its Go code on one CPU unless told otherwise, by
// --runtime.gomaxprocs or GOMAXPROCS in its environment (the flag wins),
// as node_exporter does; 0 leaves Go's own choice. Read back from the Go
// runtime's own gauge.
func TestGomaxprocs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	os.Unsetenv("GOMAXPROCS") // the premise: no GOMAXPROCS of the test's own
	for _, tc := range []struct {
		env  string
		args []string
		want string
	}{
		{"", nil, "1"},
		{"", []string{"--runtime.gomaxprocs=3"}, "3"},
		{"2", nil, "2"},
		{"2", []string{"--runtime.gomaxprocs=3"}, "3"},
	} {
		t.Run(fmt.Sprintf("env %q, %v", tc.env, tc.args), func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("GOMAXPROCS", tc.env)
			}
			p := startExporter(t, tc.args...)
			_, body := get(t, p.url("/metrics"))
			if got := metricLine(t, body, "go_sched_gomaxprocs_threads"); got != tc.want {
				t.Errorf("go_sched_gomaxprocs_threads %s, want %s", got, tc.want)
			}
			p.waitForLog(t, "gomaxprocs="+tc.want)
		})
	}
	p := startExporter(t, "--runtime.gomaxprocs=0")
	_, body := get(t, p.url("/metrics"))
	if got := metricLine(t, body, "go_sched_gomaxprocs_threads"); got == "" || got == "0" {
		t.Errorf("--runtime.gomaxprocs=0: go_sched_gomaxprocs_threads %q, want Go's default", got)
	}
}

func TestUnknownPathsAre404AndNotErrors(t *testing.T) {
	p := startExporter(t)
	for _, path := range []string{"/nope", "/metrics/extra", "/-/nope", "/favicon.ico", "/../etc/passwd"} {
		if code, _ := get(t, p.url(path)); code != http.StatusNotFound {
			t.Errorf("%s: got %d, want 404", path, code)
		}
	}
	if code, _ := get(t, p.url("/-/reload")); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: got %d, want 405", code)
	}
	if strings.Contains(p.logs.String(), "level=error") {
		t.Errorf("requests the exporter does not serve must not log errors:\n%s", p.logs.String())
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	p := startExporter(t)
	_, body := get(t, p.url("/metrics"))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestTelemetryPathFlag(t *testing.T) {
	p := startExporter(t, "--web.telemetry-path=/prom")
	if code, body := get(t, p.url("/prom")); code != 200 || !strings.Contains(body, "warden_exporter_build_info") {
		t.Errorf("/prom: %d", code)
	}
	if code, _ := get(t, p.url("/metrics")); code != 404 {
		t.Errorf("/metrics must be 404 when the path is moved, got %d", code)
	}
	for _, bad := range []string{"metrics", "/", "/-/healthy", "/config", "/checks", "/{x}", "/a/{rest...}", "/metrics/", "/a/../metrics", "GET /metrics", "/a b"} {
		_, errOut, code := runBinary(t, "--web.listen-address=127.0.0.1:0", "--web.telemetry-path="+bad)
		if code != 64 || !strings.Contains(errOut, "invalid --web.telemetry-path") {
			t.Errorf("--web.telemetry-path=%s: code %d, %s", bad, code, errOut)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	out, errOut, code := runBinary(t, "--config.check", "--config.file=config.example.yml")
	if code != 0 || out != "OK: config.example.yml (7 checks, discovery disabled)\n" || errOut != "" {
		t.Errorf("example: code %d, stdout %q, stderr %q", code, out, errOut)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "checks:\n  - name: web\n    ports:\n      - port: 70000\n    prots: []\n")
	out, errOut, code = runBinary(t, "--config.check", "--config.file="+bad)
	want := "FAILED: " + bad + "\n" +
		bad + ":4: checks[0].ports[0].port: 70000 is out of range 1-65535\n"
	if code != 78 || out != "" {
		t.Errorf("broken file: code %d, stdout %q", code, out)
	}
	// A check with an unknown key is not validated (the port may be meant
	// for another key), so that is its one error.
	if errOut != "FAILED: "+bad+"\n"+bad+":5: checks[0].prots: unknown field; valid fields here are: container, depends_on, engine, name, netns, ports, probes, unit\n" {
		t.Errorf("broken file: stderr %q", errOut)
	}

	writeFile(t, bad, "checks:\n  - name: web\n    ports:\n      - port: 70000\n")
	_, errOut, code = runBinary(t, "--config.check", "--config.file="+bad)
	if code != 78 || errOut != want {
		t.Errorf("out of range: code %d, stderr %q, want %q", code, errOut, want)
	}

	_, errOut, code = runBinary(t, "--config.check")
	if code != 64 || !strings.Contains(errOut, "--config.check needs --config.file") {
		t.Errorf("no file: code %d, %q", code, errOut)
	}
}

func TestBadConfigAtStartupExitsBeforeListening(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "checks:\n  - name: web\n    timeout: 2s\n")
	unreadable := filepath.Join(dir, "unreadable.yml")
	writeFile(t, unreadable, "discovery: {enabled: true}\n")
	if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		bad:                           bad + `:3: checks[0].timeout: unknown field`,
		filepath.Join(dir, "missing"): "no such file or directory",
		dir:                           "is a directory",
	}
	if os.Geteuid() != 0 { // root reads a mode-0 file anyway
		cases[unreadable] = "permission denied"
	}
	for file, want := range cases {
		_, errOut, code := runBinary(t, "--web.listen-address=127.0.0.1:0", "--config.file="+file)
		if code != 78 {
			t.Errorf("%s: exit code %d, want 78 (EX_CONFIG)", file, code)
		}
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, "level=error") {
			t.Errorf("%s: stderr lacks %q:\n%s", file, want, errOut)
		}
		if strings.Contains(errOut, "Listening on") {
			t.Errorf("%s: must exit before listening:\n%s", file, errOut)
		}
	}

	// A bad --web.config.file is a config error too, found before listening.
	web := filepath.Join(dir, "web.yml")
	writeFile(t, web, "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n")
	_, errOut, code := runBinary(t, "--web.listen-address=127.0.0.1:0", "--web.config.file="+web)
	if code != 78 || !strings.Contains(errOut, "invalid --web.config.file") || strings.Contains(errOut, "Listening on") {
		t.Errorf("bad web config: exit code %d, want 78 before listening:\n%s", code, errOut)
	}
}

func TestAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, errOut, code := runBinary(t, "--web.listen-address="+l.Addr().String())
	if code != 1 || !strings.Contains(errOut, "address already in use") {
		t.Errorf("code %d, stderr:\n%s", code, errOut)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "warden.yml")
	writeFile(t, cfgPath, "checks:\n  - name: first\n    ports: [{port: 22}]\n")
	p := startExporter(t, "--config.file="+cfgPath, "--web.enable-lifecycle")

	_, body := get(t, p.url("/config"))
	if !strings.Contains(body, "name: first") || !strings.Contains(body, "# source: "+cfgPath) {
		t.Fatalf("/config:\n%s", body)
	}

	// A good file via POST /-/reload takes effect.
	writeFile(t, cfgPath, "checks:\n  - name: second\n    ports: [{port: 22}]\n")
	if code, body := post(t, p.url("/-/reload")); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	_, body = get(t, p.url("/config"))
	if !strings.Contains(body, "name: second") {
		t.Fatalf("after reload:\n%s", body)
	}
	_, metrics := get(t, p.url("/metrics"))
	firstSuccess := metricLine(t, metrics, "warden_config_last_reload_success_timestamp_seconds")

	// A bad file is refused: the old config stays, the failure is exported and logged.
	writeFile(t, cfgPath, "checks:\n  - name: third\n    ports: [{port: 0}]\n")
	code, body := post(t, p.url("/-/reload"))
	// The answer names the file, line, field and kind; the log has it all.
	if code != 500 || !strings.Contains(body, cfgPath+":3: checks[0].ports[0].port: out of range") {
		t.Errorf("bad reload: %d %s", code, body)
	}
	p.waitForLog(t, cfgPath+":3: checks[0].ports[0].port: 0 is out of range 1-65535")
	_, body = get(t, p.url("/config"))
	if !strings.Contains(body, "name: second") {
		t.Errorf("the previous config must stay in effect:\n%s", body)
	}
	_, metrics = get(t, p.url("/metrics"))
	if v := metricLine(t, metrics, "warden_config_last_reload_successful"); v != "0" {
		t.Errorf("warden_config_last_reload_successful = %s, want 0", v)
	}
	if v := metricLine(t, metrics, "warden_config_last_reload_success_timestamp_seconds"); v != firstSuccess {
		t.Errorf("a failed reload must not move the success timestamp: %s -> %s", firstSuccess, v)
	}
	if !strings.Contains(p.logs.String(), `level=error`) || !strings.Contains(p.logs.String(), `msg="config reload failed, keeping the previous config"`) {
		t.Errorf("the failed reload must be logged:\n%s", p.logs.String())
	}

	// Truncated mid-line: refused.
	writeFile(t, cfgPath, "checks:\n  - name: trunc\n    ports: [{port: 2")
	if code, body := post(t, p.url("/-/reload")); code != 500 || !strings.Contains(body, cfgPath) {
		t.Errorf("truncated file: %d %s", code, body)
	}
	if _, body := get(t, p.url("/config")); !strings.Contains(body, "name: second") {
		t.Errorf("config lost after a truncated file:\n%s", body)
	}

	// SIGHUP with garbage: still refused.
	writeFile(t, cfgPath, "\x00\x01garbage")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitForLog(t, "the file contains a NUL byte")

	// SIGHUP with a good file: back to healthy.
	writeFile(t, cfgPath, "checks:\n  - name: fourth\n    ports: [{port: 22}]\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitForLog(t, `checks=1`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = get(t, p.url("/config"))
		if strings.Contains(body, "name: fourth") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP reload never took effect:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, metrics = get(t, p.url("/metrics"))
	if v := metricLine(t, metrics, "warden_config_last_reload_successful"); v != "1" {
		t.Errorf("after a good SIGHUP reload: %s, want 1", v)
	}

	// A file that vanished (or a symlink swapped to nowhere) is refused too.
	link := filepath.Join(dir, "link.yml")
	if err := os.Symlink(cfgPath, link); err != nil {
		t.Fatal(err)
	}
	p2 := startExporter(t, "--config.file="+link, "--web.enable-lifecycle")
	os.Remove(link)
	os.Symlink(filepath.Join(dir, "nowhere.yml"), link)
	if code, body := post(t, p2.url("/-/reload")); code != 500 || !strings.Contains(body, "no such file or directory") {
		t.Errorf("reload of a dangling symlink: %d %s", code, body)
	}
	if _, body := get(t, p2.url("/config")); !strings.Contains(body, "name: fourth") {
		t.Errorf("config lost after a dangling symlink:\n%s", body)
	}
}

// A config file replaced by a FIFO: --config.check and a reload (SIGHUP or
// POST /-/reload) refuse it at once instead of blocking in open(2), so the
// exporter still answers and still stops on SIGTERM. Before, SIGHUP blocked
// the signal loop forever and SIGTERM was ignored.
func TestConfigFIFOIsRefusedNotWaitedOn(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, nothing stays blocked on the FIFO after the test:
	// a reader blocked in open(2) is released by a writer opening it.
	t.Cleanup(func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	_, errOut, code := runBinary(t, "--config.check", "--config.file="+fifo)
	if want := "FAILED: " + fifo + "\n" + fifo + ": is a named pipe (FIFO), not a regular file\n"; code != 78 || errOut != want {
		t.Errorf("--config.check on a FIFO: code %d, stderr %q, want 78 and %q", code, errOut, want)
	}

	cfgPath := filepath.Join(dir, "warden.yml")
	writeFile(t, cfgPath, "checks:\n  - name: first\n    ports: [{port: 22}]\n")
	p := startExporter(t, "--config.file="+cfgPath, "--web.enable-lifecycle")
	if err := os.Rename(fifo, cfgPath); err != nil {
		t.Fatal(err)
	}
	fifo = cfgPath // for the cleanup above
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitForLog(t, "not a regular file")
	if code, body := post(t, p.url("/-/reload")); code != 500 || !strings.Contains(body, cfgPath+": ") || !strings.Contains(body, "not a regular file") {
		t.Errorf("POST /-/reload of a FIFO: %d %q", code, body)
	}
	if _, body := get(t, p.url("/config")); !strings.Contains(body, "name: first") {
		t.Errorf("the previous config must stay in effect:\n%s", body)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(t); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
}

func TestGracefulShutdown(t *testing.T) {
	p := startExporter(t)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.waitExit(t); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
	if !strings.Contains(p.logs.String(), `msg="shutting down" signal=terminated`) {
		t.Errorf("log:\n%s", p.logs.String())
	}
}

func TestSystemdEndToEnd(t *testing.T) {
	m := systemdtest.Start(t)
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	m.Run(t, "e2e-web", "sleep", "infinity")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "warden.yml")
	closedPort := strconv.Itoa(testenv.FreePort(t))
	writeFile(t, cfgPath, "checks:\n  - name: web\n    unit: e2e-web.service\n    ports: [{port: "+port+"}, {port: 1, address: 127.0.0.1}]\n"+
		"    probes: [{target: '127.0.0.1:"+port+"'}, {target: '127.0.0.1:"+closedPort+"'}]\n  - name: gone\n    unit: e2e-gone.service\n")
	p := startExporter(t, "--config.file="+cfgPath, "--systemd.address="+m.PrivateAddress())

	_, body := get(t, p.url("/metrics"))
	for _, want := range []string{
		`warden_collector_success{collector="systemd"} 1`,
		`warden_service_up{check="web",unit="e2e-web.service"} 1`,
		`warden_service_up{check="gone",unit="e2e-gone.service"} 0`,
		`warden_unit_load_state{state="not-found",unit="e2e-gone.service"} 1`,
		`warden_unit_state{state="active",unit="e2e-web.service"} 1`,
		`warden_unit_restarts_total{unit="e2e-web.service"} 0`,
		`warden_collector_success{collector="listeners"} 1`,
		`warden_port_listening{address="",check="web",port="` + port + `",proto="tcp"} 1`,
		// The test process is in no unit: certainly not e2e-web's socket.
		`warden_port_owned{address="",check="web",port="` + port + `",proto="tcp"} 0`,
		`warden_port_listening{address="127.0.0.1",check="web",port="1",proto="tcp"} 0`,
		`warden_listener_info{address="127.0.0.1",port="` + port + `",proto="tcp",unit=""} 1`,
		`warden_listeners_source_info{fallback_reason="",source="netlink"} 1`,
		`warden_collector_success{collector="probes"} 1`,
		`warden_probe_success{check="web",target="127.0.0.1:` + port + `"} 1`,
		`warden_probe_success{check="web",target="127.0.0.1:` + closedPort + `"} 0`,
		`warden_probe_failure{check="web",reason="refused",target="127.0.0.1:` + closedPort + `"} 1`,
		`warden_probe_failure{check="web",reason="refused",target="127.0.0.1:` + port + `"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// /checks explains the verdicts.
	code, checks := get(t, p.url("/checks"))
	for _, want := range []string{`"check": "web"`, `"status": "foreign_listener"`, `"check": "gone"`, `"status": "service_down"`, `"load_state": "not-found"`, `"reason": "refused"`} {
		if code != 200 || !strings.Contains(checks, want) {
			t.Errorf("/checks lacks %s:\n%s", want, checks)
		}
	}
	if !strings.Contains(body, `warden_check_status{check="web",status="foreign_listener"} 1`) || !strings.Contains(body, `warden_check_up{check="gone"} 0`) {
		t.Error("the verdict series are missing")
	}

	m.Systemctl(t, "stop", "e2e-web.service")
	_, body = get(t, p.url("/metrics"))
	if !strings.Contains(body, `warden_service_up{check="web",unit="e2e-web.service"} 0`) {
		t.Errorf("the stop is not seen by the next scrape")
	}
	// The manager goes away: the scrape still answers, with systemd failed.
	m.Kill(t, syscall.SIGKILL)
	code, body = get(t, p.url("/metrics"))
	if code != 200 || !strings.Contains(body, `warden_collector_success{collector="systemd"} 0`) || strings.Contains(body, "warden_unit_state") ||
		!strings.Contains(body, `warden_check_status{check="gone",status="unknown"} 1`) {
		t.Errorf("with the manager gone: %d, systemd success must be 0 and no unit data served:\n%s", code, body)
	}
}

func TestSystemdFlagErrors(t *testing.T) {
	for _, tc := range []struct{ flag, want string }{
		{"--systemd.unit-include=(", "--systemd.unit-include: error parsing regexp"},
		{"--systemd.unit-exclude=[", "--systemd.unit-exclude: error parsing regexp"},
		{"--systemd.address=tcp:host=x,port=1", "unsupported D-Bus address"},
	} {
		_, errOut, code := runBinary(t, "--web.listen-address=127.0.0.1:0", tc.flag)
		if code != 64 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: code %d, stderr %s", tc.flag, code, errOut)
		}
	}
}

func TestWatchIntervalFlag(t *testing.T) {
	for _, flag := range []string{"--watch.interval=50ms", "--watch.interval=-1s"} {
		_, errOut, code := runBinary(t, "--web.listen-address=127.0.0.1:0", flag)
		if code != 64 || !strings.Contains(errOut, "invalid --watch.interval: at least 100ms") {
			t.Errorf("%s: code %d, stderr %s", flag, code, errOut)
		}
	}
}

// The default configuration's series on a host with 100 units and 10
// checks stay within the budget docs/metrics.md's fleet arithmetic uses, while
// every check's unit and every failed unit stay visible; with
// --systemd.unit-series=full every watched unit has its ~9 series. The
// counters of what happens between scrapes (issue 15) add 16 a check with
// a unit: its status changes (7), seconds down, last change, and its
// unit's state changes (7); issue 21 adds 10: its unit's failures by
// Result born at 0, so increase() sees the first (9), and whether the
// check was learned (1). Measured: 508.
func TestDefaultSeriesBudget(t *testing.T) {
	const units, checks, budget = 100, 10, 520
	m := systemdtest.Start(t)
	m.StartOneshots(t, "host", units)
	m.Run(t, "broken.service", "false")
	systemdtest.WaitFor(t, 30*time.Second, "broken.service to fail", func() bool {
		return m.Show(t, "broken.service", "ActiveState") == "failed"
	})
	var cfg strings.Builder
	cfg.WriteString("checks:\n")
	for i := range checks {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		fmt.Fprintf(&cfg, "  - name: c%d\n    unit: host-%d.service\n    ports: [{port: %d, address: 127.0.0.1}]\n", i, i, l.Addr().(*net.TCPAddr).Port)
	}
	cfgPath := filepath.Join(t.TempDir(), "warden.yml")
	writeFile(t, cfgPath, cfg.String())
	// The exporter's own series: the ~60 of the Go runtime and the
	// process (go_*, process_*, promhttp_*) are the same on every host.
	// The listener inventory (one per listening address) is the host's,
	// not the checks': whatever else listens on this machine (other tests
	// run beside this one) is counted apart, not against the budget.
	samples := func(body string) (warden, all int) {
		for _, line := range strings.Split(body, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "warden_listener_info{") {
				all++
				if strings.HasPrefix(line, "warden_") {
					warden++
				}
			}
		}
		return warden, all
	}
	scrape := func(args ...string) string {
		p := startExporter(t, append([]string{"--config.file=" + cfgPath, "--systemd.address=" + m.PrivateAddress()}, args...)...)
		var body string
		systemdtest.WaitFor(t, 30*time.Second, "the exporter to read systemd", func() bool {
			_, body = get(t, p.url("/metrics"))
			return strings.Contains(body, `warden_collector_success{collector="systemd"} 1`)
		})
		return body
	}

	body := scrape()
	for _, want := range []string{
		`warden_unit_state{state="active",unit="host-0.service"} 1`,
		`warden_unit_state{state="active",unit="host-9.service"} 1`,
		`warden_unit_state{state="failed",unit="broken.service"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `unit="host-10.service"`) {
		t.Error("a unit no check names, and not failed, has series by default")
	}
	all := scrape("--systemd.unit-series=full")
	wardenSeries, total := samples(body)
	fullWarden, fullTotal := samples(all)
	t.Logf("series with %d units and %d checks, besides the listener inventory (%d here): warden_* %d (all %d) by default, %d (all %d) with --systemd.unit-series=full",
		units, checks, strings.Count(body, "\nwarden_listener_info{"), wardenSeries, total, fullWarden, fullTotal)
	if wardenSeries > budget {
		t.Errorf("%d warden_* series by default, want at most %d", wardenSeries, budget)
	}
	if !strings.Contains(all, `warden_unit_state{state="active",unit="host-10.service"} 1`) {
		t.Error("--systemd.unit-series=full leaves out a watched unit")
	}
}
