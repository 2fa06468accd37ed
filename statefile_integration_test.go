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
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// On a full or a read-only disk, POST /-/forget answered 200 and logged one
// line; no metric said so, nothing tried again, and after a restart the
// forgotten check was back. The state file here is on a 64 KiB tmpfs in a
// mount namespace of the exporter's own (nothing is mounted on the host),
// filled up or remounted read-only under the running exporter.
func TestForgetFailsWhenTheStateFileCannotBeWritten(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root: the state file is on a tmpfs the test mounts in a mount namespace of its own")
	}
	unshare := testenv.LookPath(t, "unshare", "apt-get install util-linux")
	nsenter := testenv.LookPath(t, "nsenter", "apt-get install util-linux")
	for _, tc := range []struct {
		name          string
		break_, mend  string // shell, in the exporter's mount namespace; $1 is the tmpfs
		premiseErrStr string // what writing a file there fails with once broken
	}{
		// Root ignores permission bits: only a full or read-only file
		// system stops its writes.
		{"a full disk", `head -c 1M /dev/zero >"$1/filler" 2>/dev/null; true`, `rm "$1/filler"`, "No space left on device"},
		{"a read-only disk", `mount -o remount,ro "$1"`, `mount -o remount,rw "$1"`, "Read-only file system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			seed := filepath.Join(t.TempDir(), "seed.json")
			writeFile(t, seed, learnedState("db.service", "web.service"))
			state := filepath.Join(dir, "learned.json")
			// unshare execs sh, which execs the exporter: the pid is the
			// exporter's, and the namespace ends with it.
			p := startWrapped(t, []string{unshare, "-m", "--propagation", "private", "sh", "-ec",
				`mount -t tmpfs -o size=64k,mode=0755 tmpfs "$0"; cp "$1" "$0/learned.json"; shift; exec "$@"`, dir, seed},
				"--no-collector.systemd", "--no-collector.probes", "--web.enable-lifecycle", "--discovery.state-file="+state)
			inNS := func(script string) (string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, nsenter, "-t", strconv.Itoa(p.cmd.Process.Pid), "-m", "--", "sh", "-c", script, "sh", dir).CombinedOutput()
				return string(out), err
			}
			fileHas := func(unit string) bool {
				out, err := inNS(`cat "$1/learned.json"`)
				if err != nil {
					t.Fatalf("reading the state file: %v\n%s", err, out)
				}
				return strings.Contains(out, `"`+unit+`"`)
			}
			if _, body := get(t, p.url("/checks")); !strings.Contains(body, `"check": "db.service"`) {
				t.Fatalf("the learned check is not served:\n%s", body)
			}

			if out, err := inNS(tc.break_); err != nil {
				t.Fatalf("breaking the disk: %v\n%s", err, out)
			}
			// The premise: nothing can be written there now, not even by root.
			if out, err := inNS(`dd if=/dev/zero of="$1/premise" bs=4096 count=1`); err == nil || !strings.Contains(out, tc.premiseErrStr) {
				t.Fatalf("the premise does not hold: writing there gave %v %q, want %q", err, out, tc.premiseErrStr)
			}

			code, body := post(t, p.url("/-/forget?check=db.service&force=true"))
			if code != 500 || !strings.Contains(body, "state file cannot be written") {
				t.Errorf("forget on %s: %d %q, want 500 saying the state file cannot be written", tc.name, code, body)
			}
			_, metrics := get(t, p.url("/metrics"))
			if v, _ := strconv.ParseFloat(metricLine(t, metrics, "warden_discovery_state_write_failures_total"), 64); v < 1 {
				t.Errorf("warden_discovery_state_write_failures_total = %v, want at least 1", v)
			}
			if v := metricLine(t, metrics, "warden_discovery_state_last_write_successful"); v != "0" {
				t.Errorf("warden_discovery_state_last_write_successful = %s, want 0", v)
			}
			if _, body := get(t, p.url("/checks")); !strings.Contains(body, `"check": "db.service"`) {
				t.Errorf("refused, yet no longer served: a restart would bring it back")
			}
			if !fileHas("db.service") {
				t.Error("the state file lost the check")
			}
			p.waitForLog(t, "cannot write the discovery state file")

			// Mended: the writer's retry (at most a minute apart) writes
			// again, and forgetting works.
			if out, err := inNS(tc.mend); err != nil {
				t.Fatalf("mending the disk: %v\n%s", err, out)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				_, metrics = get(t, p.url("/metrics"))
				if metricLine(t, metrics, "warden_discovery_state_last_write_successful") == "1" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the state file was not written again within 2 minutes of the disk being mended")
				}
				time.Sleep(100 * time.Millisecond)
			}
			p.waitForLog(t, "the discovery state file is written again")
			if code, body := post(t, p.url("/-/forget?check=db.service&force=true")); code != 200 {
				t.Fatalf("forget once mended: %d %q", code, body)
			}
			// What a restart loads: the forgotten check is gone, the other kept.
			if fileHas("db.service") || !fileHas("web.service") {
				out, _ := inNS(`cat "$1/learned.json"`)
				t.Errorf("the state file after the forget:\n%s", out)
			}
		})
	}
}
