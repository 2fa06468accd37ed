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

// Package host runs the exporter where users run it: installed from its
// .deb on a booted Debian host (this machine's own, as a throwaway systemd
// system container), as the packaged service, against the system manager
// over dbus-daemon's system bus, on Debian's own nginx and redis units, with
// Debian's Prometheus scraping it. Once in the host's cgroup layout and once
// in pure cgroup v2 (what production Debian 12 hosts have).
package host

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/sysboxtest"
	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// The versions of the two packages: an upgrade goes from the first to the
// second.
const (
	previousVersion = "0.0.1~prev"
	metricsURL      = "http://127.0.0.1:9863/metrics"
	checksURL       = "http://127.0.0.1:9863/checks"
)

// bulkUnits are added to the host's own (~170) so the exporter's first fetch
// and every daemon-reload read well over the bus's 128 pending replies'
// worth of properties.
const bulkUnits = 150

// packages builds the previous and the current package into a directory the
// container sees, with the mixin and the example Prometheus config.
func packages(t *testing.T) (dir, current string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir, current = sysboxtest.Packages(t, root, previousVersion)
	for _, f := range []string{"mixin/alerts.yml", "mixin/rules.yml", "examples/prometheus.yml",
		// upstream's mongod.conf, for the daemon test's mongod stand-in
		"internal/daemonconf/testdata/mongodb/root/etc/mongod.conf"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, current
}

func TestPackagedExporterOnABootedHost(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "booting a system container needs root")
	}
	if goarch := os.Getenv("GOARCH"); goarch != "" && goarch != "amd64" {
		testenv.Skip(t, "the packages are built for amd64 here")
	}
	dir, current := packages(t)
	for _, layout := range []struct {
		name    string
		unified bool
	}{{"hybrid cgroups", false}, {"cgroup v2", true}} {
		t.Run(layout.name, func(t *testing.T) {
			h := &host{Host: sysboxtest.Boot(t, sysboxtest.Options{Bind: dir, UnifiedCgroup: layout.unified}), t: t}
			h.suite(current)
		})
	}
}

type host struct {
	*sysboxtest.Host
	t *testing.T
}

func (h *host) sh(script string) string {
	h.t.Helper()
	return h.Run(h.t, "bash", "-ec", script)
}

// shMayFail runs script and returns its output and whether it succeeded.
func (h *host) shMayFail(script string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := h.Exec(ctx, "bash", "-ec", script)
	return string(out), err == nil
}

// get fetches url inside the container; "" when nothing answers.
func (h *host) get(url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := h.ExecNet(ctx, "curl", "--silent", "--fail", "--noproxy", "*", "--max-time", "10", url)
	if err != nil {
		return ""
	}
	return string(out)
}

type verdict struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Unit   *struct {
		ActiveState     string `json:"active_state"`
		Up              bool   `json:"up"`
		SocketActivated string `json:"socket_activated"`
	} `json:"unit"`
	Ports []struct {
		Proto     string `json:"proto"`
		Address   string `json:"address"`
		Port      int    `json:"port"`
		Listening bool   `json:"listening"`
		Owned     string `json:"owned"`
		// Source is "<daemon>: <file>:<line>", "<daemon>: <file>
		// (default)", "learned" or "configured".
		Source string `json:"source"`
		Seen   []struct {
			Owner string `json:"owner"`
		} `json:"seen"`
	} `json:"ports"`
	Probes []struct {
		Reason string `json:"reason"`
	} `json:"probes"`
	// DaemonConfig is what the exporter read of the configuration of the
	// daemon the check's unit runs (daemons_integration_test.go).
	DaemonConfig *daemonConfig `json:"daemon_config"`
}

func (h *host) verdicts() map[string]verdict {
	var doc struct {
		Checks []verdict `json:"checks"`
	}
	body := h.get(checksURL)
	if body == "" || json.Unmarshal([]byte(body), &doc) != nil {
		return nil
	}
	out := map[string]verdict{}
	for _, v := range doc.Checks {
		out[v.Check] = v
	}
	return out
}

// waitStatus waits (bounded) until every named check has its status.
func (h *host) waitStatus(want map[string]string) map[string]verdict {
	h.t.Helper()
	var vs map[string]verdict
	deadline := time.Now().Add(45 * time.Second)
	for {
		vs = h.verdicts()
		ok := vs != nil
		for check, status := range want {
			if vs[check].Status != status {
				ok = false
			}
		}
		if ok {
			return vs
		}
		if time.Now().After(deadline) {
			for check, status := range want {
				h.t.Errorf("%s: %s (%s), want %s", check, vs[check].Status, vs[check].Reason, status)
			}
			h.t.Fatalf("verdicts not reached in 45s; exporter log:\n%s", h.journal("warden_exporter"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (h *host) journal(unit string) string {
	out, _ := h.shMayFail("journalctl --no-pager -n 30 -u " + unit)
	return out
}

var successRe = regexp.MustCompile(`(?m)^warden_collector_success\{collector="systemd"\} (\S+)$`)

// The whole life of the package on one booted host.
func (h *host) suite(current string) {
	t := h.t
	h.sh(`
# Units enough that the exporter's fetches would exceed the bus's limit.
for i in $(seq ` + strconv.Itoa(bulkUnits) + `); do
  printf '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n' > /etc/systemd/system/bulk-$i.service
done
# A socket-activated service: idle until its first connection.
printf '[Socket]\nListenStream=127.0.0.1:7777\n[Install]\nWantedBy=sockets.target\n' > /etc/systemd/system/wecho.socket
printf '[Service]\nExecStart=/bin/sleep infinity\n' > /etc/systemd/system/wecho.service
systemctl daemon-reload
systemctl start wecho.socket $(seq -f 'bulk-%g.service' ` + strconv.Itoa(bulkUnits) + `)
# Every scrape, from before the install on: one line per answer.
systemd-run --quiet --unit=wscraper bash -c 'while :; do
  curl -s --max-time 5 http://127.0.0.1:9863/metrics | grep "^warden_collector_success{collector=\"systemd\"}" >> /run/wscraper.log || true
  sleep 0.2
done'`)
	if n := strings.Count(h.sh("systemctl list-units --all --no-legend --plain"), "\n"); n < 250 {
		t.Fatalf("only %d units loaded, want >= 250", n)
	}

	t.Run("install", func(t *testing.T) {
		h.sh(`dpkg -i ` + sysboxtest.Deb(previousVersion))
		h.WaitFor(t, "the exporter answers", 30*time.Second, func() bool { return h.get(metricsURL) != "" })
		if got := strings.TrimSpace(h.sh(`ps -o user= -p "$(systemctl show -p MainPID --value warden_exporter)"`)); got != "warden_exporter" {
			t.Errorf("the service runs as %q, want warden_exporter", got)
		}
		if enabled := strings.TrimSpace(h.sh(`systemctl is-enabled warden_exporter`)); enabled != "enabled" {
			t.Errorf("is-enabled: %s", enabled)
		}
		// The config may carry TLS keys: the service's group reads it, others not.
		if got := strings.TrimSpace(h.sh(`stat -c '%a %U:%G' /etc/warden_exporter/config.yml`)); got != "640 root:warden_exporter" {
			t.Errorf("config.yml is %s, want 640 root:warden_exporter", got)
		}
		m := successRe.FindStringSubmatch(h.get(metricsURL))
		if m == nil || m[1] != "1" {
			t.Fatalf("systemd success after install: %v\n%s", m, h.journal("warden_exporter"))
		}
	})

	t.Run("zero-config learns the host's services", func(t *testing.T) {
		// Learn within a second rather than the default minute.
		h.sh(`sed -i 's/^ARGS=.*/ARGS="--discovery.min-age=1s"/' /etc/default/warden_exporter && systemctl restart warden_exporter`)
		vs := h.waitStatus(map[string]string{"nginx.service": "ok", "redis-server.service": "ok", "wecho.service": "ok"})
		if u := vs["wecho.service"].Unit; u == nil || u.SocketActivated != "wecho.socket" {
			t.Errorf("wecho.service: idle, socket activated by wecho.socket: %+v", u)
		}
		h.WaitFor(t, "learned.json written", 30*time.Second, func() bool {
			out, _ := h.shMayFail(`cat /var/lib/warden_exporter/learned.json`)
			return strings.Contains(out, "redis-server.service")
		})
		// The series of the default configuration on a real Debian host
		// (the reference for docs/metrics.md's fleet arithmetic): they grow
		// with its checks, not with its ~300 units.
		metrics := h.get("http://127.0.0.1:9863/metrics")
		wardenSeries, all, unitState := 0, 0, 0
		for _, line := range strings.Split(metrics, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			all++
			if strings.HasPrefix(line, "warden_") {
				wardenSeries++
			}
			if strings.HasPrefix(line, "warden_unit_state{") {
				unitState++
			}
		}
		units := strings.Count(h.sh(`systemctl list-units --all --no-legend --plain '*.service' '*.socket'`), "\n")
		t.Logf("series on the booted host, zero-config: warden_* %d (warden_unit_state %d), all %d; %d service and socket units loaded; %d checks learned",
			wardenSeries, unitState, all, units, len(vs))
		// 250 before the counters of what happens between scrapes (16 a
		// check with a unit; 378 measured with 9 learned checks).
		if wardenSeries == 0 || wardenSeries > 420 {
			t.Errorf("%d warden_* series by default on a host with %d units and %d checks, want at most 420", wardenSeries, units, len(vs))
		}
		// Debian's redis.conf is not the exporter's to read: redis's port
		// is learned (the check is ok from the first scrape, before it is).
		h.WaitFor(t, "redis-server.service's port learned", 30*time.Second, func() bool {
			for _, p := range h.verdicts()["redis-server.service"].Ports {
				if p.Port == 6379 && p.Source == "learned" {
					return true
				}
			}
			return false
		})
		h.sh(`systemctl stop redis-server`)
		h.waitStatus(map[string]string{"redis-server.service": "service_and_port_down", "nginx.service": "ok"})
		h.sh(`systemctl start redis-server`)
		h.waitStatus(map[string]string{"redis-server.service": "ok"})

		// Discovery follows the service: nginx 80 -> 8080 pages (port_down,
		// saying where it listens now), and back on 80 it is ok at once,
		// no longer expecting 8080. Learned, not read from nginx's
		// configuration (--no-collector.daemon-config): with it, a move
		// applied is ok at once (TestDaemonConfigurationsOnABootedHost);
		// this is discovery's rule for every other service.
		h.sh(`sed -i 's/^ARGS=.*/ARGS="--discovery.min-age=1s --no-collector.daemon-config"/' /etc/default/warden_exporter && systemctl restart warden_exporter`)
		h.waitStatus(map[string]string{"nginx.service": "ok"})
		h.sh(`sed -i 's/listen 80 default_server/listen 8080 default_server/; s/listen \[::\]:80 default_server/listen [::]:8080 default_server/' /etc/nginx/sites-enabled/default && systemctl reload nginx`)
		vs = h.waitStatus(map[string]string{"nginx.service": "port_down"})
		if !strings.Contains(vs["nginx.service"].Reason, "nginx.service listens on tcp 0.0.0.0:8080") {
			t.Errorf("nginx moved: reason %q does not say where it listens now", vs["nginx.service"].Reason)
		}
		time.Sleep(2 * time.Second) // past --discovery.min-age (1s here): 8080 is learned too
		h.sh(`sed -i 's/listen 8080 default_server/listen 80 default_server/; s/listen \[::\]:8080 default_server/listen [::]:80 default_server/' /etc/nginx/sites-enabled/default && systemctl reload nginx`)
		// The reload holds 80 and 8080 for a moment: once 8080 closes, it
		// is no longer expected, and the check stays ok.
		h.WaitFor(t, "nginx.service ok on 80 alone", 60*time.Second, func() bool {
			v := h.verdicts()["nginx.service"]
			if v.Status != "ok" {
				return false
			}
			for _, p := range v.Ports {
				if p.Port == 8080 {
					return false
				}
			}
			return true
		})
		h.sh(`sed -i 's/^ARGS=.*/ARGS="--discovery.min-age=1s"/' /etc/default/warden_exporter && systemctl restart warden_exporter`)
	})

	t.Run("upgrade keeps config and learned state", func(t *testing.T) {
		before := h.sh(`cat /var/lib/warden_exporter/learned.json`)
		pid := h.sh(`systemctl show -p MainPID --value warden_exporter`)
		h.sh(`dpkg -i --force-confold ` + sysboxtest.Deb(current))
		if got := h.sh(`dpkg-query -W -f '${Version}' warden-exporter`); got != current {
			t.Fatalf("installed version %q, want %q", got, current)
		}
		h.WaitFor(t, "the new exporter answers", 30*time.Second, func() bool {
			return strings.Contains(h.get(metricsURL), `version="`+current+`"`)
		})
		if h.sh(`systemctl show -p MainPID --value warden_exporter`) == pid {
			t.Error("the service was not restarted on upgrade")
		}
		if !strings.Contains(h.sh(`cat /etc/default/warden_exporter`), `ARGS="--discovery.min-age=1s"`) {
			t.Error("the upgrade replaced the edited /etc/default/warden_exporter")
		}
		after := h.sh(`cat /var/lib/warden_exporter/learned.json`)
		if !strings.Contains(after, "redis-server.service") || !strings.Contains(before, "nginx.service") {
			t.Errorf("learned state lost on upgrade:\nbefore %s\nafter %s", before, after)
		}
	})

	t.Run("systemd success on every scrape through daemon-reload and daemon-reexec", func(t *testing.T) {
		for range 3 {
			h.sh(`systemctl daemon-reload; sleep 1`)
		}
		h.sh(`systemctl daemon-reexec; sleep 2`)
		h.sh(`systemctl stop wscraper`)
		log := h.sh(`cat /run/wscraper.log`)
		lines := strings.Split(strings.TrimSpace(log), "\n")
		failed := 0
		for _, l := range lines {
			if !strings.HasSuffix(l, " 1") {
				failed++
			}
		}
		if failed > 0 || len(lines) < 20 {
			t.Fatalf("%d of %d answers had systemd success 0 (want 0 of >= 20); exporter log:\n%s", failed, len(lines), h.journal("warden_exporter"))
		}
		t.Logf("%d scrapes since before the install, all with systemd success 1", len(lines))
	})

	t.Run("verdicts on Debian's own units", func(t *testing.T) {
		h.sh(`cat > /etc/warden_exporter/config.yml <<'EOF'
checks:
  - name: nginx
    unit: nginx.service
    ports: [{port: 80}]
    probes:
      - target: 127.0.0.1:80
        query_response: [{send: "HEAD / HTTP/1.0\r\n\r\n"}, {expect: "^HTTP/1\\.[01] [23]"}]
  - name: redis
    unit: redis-server.service
    ports: [{port: 6379, address: 127.0.0.1}]
    probes:
      - target: 127.0.0.1:6379
        query_response: [{send: "PING\r\n"}, {expect: "^\\+PONG"}]
  - name: echo
    unit: wecho.service
    ports: [{port: 7777, address: 127.0.0.1}]
EOF
systemctl reload warden_exporter`)
		h.waitStatus(map[string]string{"nginx": "ok", "redis": "ok", "echo": "ok"})

		t.Run("a bad config fails the reload and the running one stays", func(t *testing.T) {
			h.sh(`cp /etc/warden_exporter/config.yml /run/good.yml; echo 'bogus: 1' >> /etc/warden_exporter/config.yml`)
			if out, ok := h.shMayFail(`systemctl reload warden_exporter`); ok {
				t.Errorf("systemctl reload succeeded on a bad config:\n%s", out)
			}
			if st := strings.TrimSpace(h.sh(`systemctl is-active warden_exporter`)); st != "active" {
				t.Errorf("after a failed reload the service is %s", st)
			}
			h.waitStatus(map[string]string{"nginx": "ok", "echo": "ok"})
			h.sh(`cp /run/good.yml /etc/warden_exporter/config.yml && systemctl reload warden_exporter`)
		})
		t.Run("nginx moved to another port and reloaded: port_down", func(t *testing.T) {
			h.sh(`sed -i 's/listen 80 default_server/listen 8080 default_server/; s/listen \[::\]:80 default_server/listen [::]:8080 default_server/' /etc/nginx/sites-enabled/default && systemctl reload nginx`)
			vs := h.waitStatus(map[string]string{"nginx": "port_down"})
			if vs["nginx"].Unit == nil || !vs["nginx"].Unit.Up {
				t.Errorf("nginx is still up: %+v", vs["nginx"].Unit)
			}
			h.sh(`sed -i 's/listen 8080 default_server/listen 80 default_server/; s/listen \[::\]:8080 default_server/listen [::]:80 default_server/' /etc/nginx/sites-enabled/default && systemctl reload nginx`)
			h.waitStatus(map[string]string{"nginx": "ok"})
		})
		t.Run("nginx stopped: service_and_port_down", func(t *testing.T) {
			h.sh(`systemctl stop nginx`)
			h.waitStatus(map[string]string{"nginx": "service_and_port_down"})
			h.sh(`systemctl start nginx`)
			h.waitStatus(map[string]string{"nginx": "ok"})
		})
		t.Run("a stranger on redis's port while redis is stopped: foreign_listener", func(t *testing.T) {
			h.sh(`systemctl stop redis-server && systemd-run --quiet --unit=stranger python3 -m http.server --bind 127.0.0.1 6379`)
			vs := h.waitStatus(map[string]string{"redis": "foreign_listener"})
			if p := vs["redis"].Ports; len(p) != 1 || p[0].Owned != "no" || len(p[0].Seen) == 0 || p[0].Seen[0].Owner != "stranger.service" {
				t.Errorf("redis's port: %+v, want owned by stranger.service", p)
			}
			h.sh(`systemctl stop stranger && systemctl start redis-server`)
			h.waitStatus(map[string]string{"redis": "ok"})
		})
		t.Run("root's process in a scope on redis's port: the package names its user and cgroup", func(t *testing.T) {
			// Issue 21: the packaged exporter may not read root's fds; a
			// scope is no unit it watches, so this is a stranger.
			h.sh(`systemctl stop redis-server && (systemd-run --quiet --scope --unit=w-stranger python3 -m http.server --bind 127.0.0.1 6379 </dev/null >/dev/null 2>&1 &)`)
			vs := h.waitStatus(map[string]string{"redis": "foreign_listener"})
			want := "held by a process of uid 0 (root) in cgroup /system.slice/w-stranger.scope, outside every known unit"
			if !strings.Contains(vs["redis"].Reason, want) {
				t.Errorf("reason %q, want %q in it", vs["redis"].Reason, want)
			}
			h.sh(`systemctl stop w-stranger.scope && systemctl start redis-server`)
			h.waitStatus(map[string]string{"redis": "ok"})
		})
		t.Run("redis with requirepass: probe_failed", func(t *testing.T) {
			h.sh(`echo 'requirepass s3cret' >> /etc/redis/redis.conf && systemctl restart redis-server`)
			vs := h.waitStatus(map[string]string{"redis": "probe_failed"})
			if len(vs["redis"].Probes) != 1 || vs["redis"].Probes[0].Reason != "expect" {
				t.Errorf("probe: %+v, want reason expect", vs["redis"].Probes)
			}
			h.sh(`sed -i '/^requirepass s3cret$/d' /etc/redis/redis.conf && systemctl restart redis-server`)
			h.waitStatus(map[string]string{"redis": "ok"})
		})
		t.Run("an idle socket-activated service is ok, down once its socket unit stops", func(t *testing.T) {
			vs := h.waitStatus(map[string]string{"echo": "ok"})
			if u := vs["echo"].Unit; u == nil || u.ActiveState != "inactive" || u.SocketActivated != "wecho.socket" {
				t.Errorf("echo: %+v, want inactive and socket activated by wecho.socket", u)
			}
			h.sh(`systemctl stop wecho.socket`)
			h.waitStatus(map[string]string{"echo": "service_and_port_down"})
			h.sh(`systemctl start wecho.socket`)
			h.waitStatus(map[string]string{"echo": "ok"})
		})
	})

	t.Run("Prometheus with the mixin's rules: WardenCheckDown fires and resolves", func(t *testing.T) {
		h.prometheus()
		h.sh(`systemctl stop redis-server`)
		h.waitAlert("WardenCheckDown", "redis", true)
		h.sh(`systemctl start redis-server`)
		h.waitAlert("WardenCheckDown", "redis", false)
	})

	t.Run("DynamicUser cannot use the system bus, and says so", func(t *testing.T) {
		h.sh(`systemd-run --quiet --unit=wdynamic -p DynamicUser=yes /usr/bin/warden_exporter --web.listen-address=127.0.0.1:9864`)
		h.WaitFor(t, "the DynamicUser exporter's refusal is logged", 30*time.Second, func() bool {
			h.get("http://127.0.0.1:9864/metrics") // a scrape asks for a connection now
			return strings.Contains(h.journal("wdynamic"), "static system user")
		})
		if m := successRe.FindStringSubmatch(h.get("http://127.0.0.1:9864/metrics")); m == nil || m[1] != "0" {
			t.Errorf("systemd success under DynamicUser: %v, want 0", m)
		}
		h.sh(`systemctl stop wdynamic`)
	})

	t.Run("remove, install again, remove, purge", func(t *testing.T) {
		h.sh(`dpkg -r warden-exporter`)
		if st, _ := h.shMayFail(`systemctl is-active warden_exporter`); strings.TrimSpace(st) == "active" {
			t.Error("still active after remove")
		}
		h.sh(`test ! -e /usr/bin/warden_exporter && test -e /etc/warden_exporter/config.yml && test -d /var/lib/warden_exporter`)
		// The flag that makes the next install a first one is root's, not
		// in the service user's directory.
		h.sh(`test -f /var/lib/warden-exporter-package/removed && test ! -e /var/lib/warden_exporter/.package-removed`)
		// Installed again: enabled and started like a first install.
		h.sh(`dpkg -i ` + sysboxtest.Deb(current))
		h.WaitFor(t, "the reinstalled exporter answers", 30*time.Second, func() bool { return h.get(metricsURL) != "" })
		if enabled := strings.TrimSpace(h.sh(`systemctl is-enabled warden_exporter`)); enabled != "enabled" {
			t.Errorf("is-enabled after installing again: %s", enabled)
		}
		h.sh(`test ! -e /var/lib/warden-exporter-package`)
		h.sh(`dpkg -r warden-exporter`)
		h.sh(`dpkg -P warden-exporter`)
		h.sh(`test ! -e /etc/warden_exporter/config.yml && test ! -e /var/lib/warden_exporter && test ! -e /etc/default/warden_exporter && test ! -e /var/lib/warden-exporter-package`)
	})
}

// prometheus points the host's own Prometheus (Debian's prometheus.service)
// at the packaged exporter with the example config and the mixin's rules,
// scraping and evaluating every second, with the alerts' for: shortened to
// 2s so the test waits seconds rather than minutes.
func (h *host) prometheus() {
	h.t.Helper()
	bind := sysboxtest.BindTarget
	h.sh(`mkdir -p /etc/prometheus/warden
sed -E -e 's/^(\s+)for: \S+$/\1for: 2s/' -e 's/^(\s+)keep_firing_for: \S+$/\1keep_firing_for: 5s/' ` + bind + `/alerts.yml > /etc/prometheus/warden/alerts.yml
cp ` + bind + `/rules.yml /etc/prometheus/warden/rules.yml
sed -e "s/\['host1:9863', 'host2:9863'\]/['127.0.0.1:9863']/" -e 's/_interval: 30s/_interval: 1s/' -e 's/scrape_timeout: 10s/scrape_timeout: 1s/' \
  -e '/^alerting:/,/^$/d' ` + bind + `/prometheus.yml > /etc/prometheus/prometheus.yml
grep -q "127.0.0.1:9863" /etc/prometheus/prometheus.yml
promtool check config /etc/prometheus/prometheus.yml
systemctl restart prometheus`)
	h.WaitFor(h.t, "Prometheus scrapes the exporter", 60*time.Second, func() bool {
		return strings.Contains(h.get(`http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22warden%22%7D`), `"value":[`) &&
			strings.Contains(h.get(`http://127.0.0.1:9090/api/v1/query?query=up%7Bjob%3D%22warden%22%7D`), `"1"]`)
	})
}

// waitAlert waits (bounded) until alertname for check is firing, or gone.
func (h *host) waitAlert(alertname, check string, firing bool) {
	h.t.Helper()
	h.WaitFor(h.t, alertname+" for "+check+" firing="+strconv.FormatBool(firing), 90*time.Second, func() bool {
		var doc struct {
			Data struct {
				Alerts []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(h.get("http://127.0.0.1:9090/api/v1/alerts")), &doc) != nil {
			return false
		}
		for _, a := range doc.Data.Alerts {
			if a.Labels["alertname"] == alertname && a.Labels["check"] == check && a.State == "firing" {
				return firing
			}
		}
		return !firing
	})
}
