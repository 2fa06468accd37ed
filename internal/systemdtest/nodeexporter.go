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

package systemdtest

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// StartNodeExporter runs Debian's node_exporter with its systemd collector
// (restarts and start times on) against m, and returns its address; it is
// killed when the test ends. node_exporter only knows the system manager's
// private socket: it gets m's at that path, in a mount namespace of its
// own.
func (m *Manager) StartNodeExporter(t testing.TB) string {
	t.Helper()
	bin := testenv.LookPath(t, "prometheus-node-exporter", "apt-get install prometheus-node-exporter")
	addr := testenv.FreeLoopbackAddr(t)
	script := `set -e
if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; else mount -t tmpfs tmpfs /run; mkdir -p /run/systemd; fi
touch /run/systemd/private
mount --bind "$WARDEN_SOCKET" /run/systemd/private
exec "$NODE_EXPORTER" --web.listen-address="$NODE_ADDR" --collector.disable-defaults --collector.systemd \
  --collector.systemd.private --collector.systemd.enable-restarts-metrics --collector.systemd.enable-start-time-metrics \
  --collector.systemd.unit-include='.+\.(service|socket)'`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "WARDEN_SOCKET="+filepath.Join(m.RuntimeDir, "systemd", "private"), "NODE_EXPORTER="+bin, "NODE_ADDR="+addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("node_exporter: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	WaitFor(t, 30*time.Second, "node_exporter to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}
