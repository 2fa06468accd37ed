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

//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/sysboxtest"
)

// The packaged exporter's address, and node_exporter's in the container.
const (
	hostWardenURL     = "http://127.0.0.1:9863/metrics"
	hostNodeURL       = "http://127.0.0.1:9100/metrics" // node_exporter over the system bus
	hostNodePrivate   = "http://127.0.0.1:9101/metrics" // the same, over /run/systemd/private
	hostSmallUnits    = 250                             // loaded units for the start and small reload runs
	hostStarts        = 5                               // start-to-first-good-scrape runs
	hostStartBound    = 30                              // seconds a start may take before it counts as failed
	hostReloads       = 3                               // daemon-reloads per reload run
	hostReloadGap     = 2                               // seconds between them
	hostReloadTrail   = 10                              // seconds of scraping after the last one
	hostScrapeBound   = 60                              // curl --max-time of one comparison scrape, seconds
	hostStartAllBound = 240                             // seconds to start the bulk units
)

// benchHost is one booted Debian (this machine's, as a systemd system
// container) with the exporter's package installed.
type benchHost struct {
	*sysboxtest.Host
	t    *testing.T
	bulk int // bulk-1 … bulk-N.service exist and were started
}

// sh runs script in the container with bash -e, bounded by timeout, and
// fails the test with its output if it fails.
func (h *benchHost) sh(timeout time.Duration, script string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := h.Exec(ctx, "bash", "-ec", script)
	if err != nil {
		h.t.Fatalf("%v (bound %v):\n%s\nscript:\n%s", err, timeout, out, script)
	}
	return string(out)
}

// loadedUnits counts the units the manager has loaded (list-units --all).
func (h *benchHost) loadedUnits() int {
	h.t.Helper()
	return strings.Count(h.sh(30*time.Second, `systemctl list-units --all --no-legend --plain`), "\n")
}

// unitsTo adds oneshot units (Type=oneshot, RemainAfterExit=yes, /bin/true)
// until the manager has about total loaded, starts them all in one bounded
// systemctl start, and returns how many are loaded.
func (h *benchHost) unitsTo(total int) int {
	h.t.Helper()
	need := total - h.loadedUnits()
	if need <= 0 {
		return h.loadedUnits()
	}
	from, to := h.bulk+1, h.bulk+need
	t0 := time.Now()
	h.sh(time.Duration(hostStartAllBound+60)*time.Second, fmt.Sprintf(`
for i in $(seq %d %d); do
  printf '[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n' > /etc/systemd/system/bulk-$i.service
done
systemctl daemon-reload
seq -f 'bulk-%%g.service' %d %d | timeout %d xargs systemctl start`, from, to, from, to, hostStartAllBound))
	h.bulk = to
	n := h.loadedUnits()
	h.t.Logf("added and started bulk-%d … bulk-%d.service in %v: %d units loaded", from, to, time.Since(t0).Round(time.Millisecond), n)
	return n
}

// metric fetches url in the container (uncompressed) and returns the body.
func (h *benchHost) metric(url string) string {
	h.t.Helper()
	return h.sh(2*hostScrapeBound*time.Second, `curl -sS --fail --noproxy '*' --max-time `+strconv.Itoa(hostScrapeBound)+` `+url)
}

// countPrefix counts the lines of body starting with prefix.
func countPrefix(body, prefix string) int {
	n := 0
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}

// waitGood waits (bounded) until the exporter answers with systemd success 1.
func (h *benchHost) waitGood(what string) {
	h.t.Helper()
	h.WaitFor(h.t, what, 60*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		out, _ := h.Exec(ctx, "curl", "-s", "--noproxy", "*", "--max-time", "10", hostWardenURL)
		return strings.Contains(string(out), "\nwarden_collector_success{collector=\"systemd\"} 1\n")
	})
}

func secondsOf(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func medianMax(ds []time.Duration) (median, maximum time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// startRuns: `systemctl start warden_exporter` (stopped before) to the
// first /metrics answer with systemd success 1, polled every 20 ms by a
// shell loop inside the container, started before systemctl start. Returns
// the times to the first answer of any kind and to the first good one.
func (h *benchHost) startRuns(runs int) (anyAnswer, good []time.Duration) {
	h.t.Helper()
	script := fmt.Sprintf(`
systemctl stop warden_exporter
# Five starts in 10 s are systemd's default limit: runs back to back are not
# what it guards against.
systemctl reset-failed warden_exporter
rm -f /run/wfirst.out
( any=""
  end=$(( $(date +%%s) + %d ))
  while [ "$(date +%%s)" -lt "$end" ]; do
    if curl -s --noproxy '*' --max-time 2 -o /run/wfirst.body %s; then
      now=$(date +%%s.%%N)
      [ -n "$any" ] || any=$now
      if grep -q '^warden_collector_success{collector="systemd"} 1$' /run/wfirst.body; then
        echo "$any $now" > /run/wfirst.out; exit 0
      fi
    fi
    sleep 0.02
  done
  echo "${any:-none} timeout" > /run/wfirst.out ) &
poller=$!
sleep 0.3
t0=$(date +%%s.%%N)
systemctl start warden_exporter
wait $poller
echo "$t0 $(cat /run/wfirst.out)"`, hostStartBound, hostWardenURL)
	for i := range runs {
		out := strings.TrimSpace(h.sh(time.Duration(hostStartBound+60)*time.Second, script))
		last := out[strings.LastIndexByte(out, '\n')+1:]
		f := strings.Fields(last)
		if len(f) != 3 {
			h.t.Fatalf("start run %d: %q", i+1, out)
		}
		t0, _ := strconv.ParseFloat(f[0], 64)
		if f[2] == "timeout" {
			h.t.Errorf("start run %d: no answer with systemd success 1 within %ds (first answer: %s)", i+1, hostStartBound, f[1])
			good = append(good, time.Duration(hostStartBound)*time.Second)
		} else {
			g, _ := strconv.ParseFloat(f[2], 64)
			good = append(good, secondsOf(g-t0))
		}
		if a, err := strconv.ParseFloat(f[1], 64); err == nil {
			anyAnswer = append(anyAnswer, secondsOf(a-t0))
		}
		h.t.Logf("start run %d: first answer after %v, first good answer after %v", i+1,
			anyAnswer[len(anyAnswer)-1].Round(time.Millisecond), good[len(good)-1].Round(time.Millisecond))
	}
	return anyAnswer, good
}

type reloadResult struct {
	scrapes, good, bad, none int // answers with success 1, 0, no answer (or no success line)
	slow                     int // scrapes that took over 250 ms
	maxScrape                time.Duration
	reloads                  []time.Duration // how long each systemctl daemon-reload took
}

// reloadRun scrapes /metrics every 100 ms from a unit inside the container
// while systemctl daemon-reload runs hostReloads times hostReloadGap s
// apart, and hostReloadTrail s after the last.
func (h *benchHost) reloadRun() reloadResult {
	h.t.Helper()
	h.waitGood("the exporter answers with systemd success 1 before the reloads")
	out := h.sh(time.Duration(hostReloads*(hostReloadGap+60)+hostReloadTrail+60)*time.Second, fmt.Sprintf(`
rm -f /run/wscrape.log
systemd-run --quiet --collect --unit=wscraper bash -c 'while :; do
  rm -f /run/wscrape.body
  r=$(curl -s --noproxy "*" --max-time 5 -o /run/wscrape.body -w "%%{http_code} %%{time_total}" %s) || true
  v=$(grep -m1 "^warden_collector_success{collector=\"systemd\"}" /run/wscrape.body 2>/dev/null | cut -d" " -f2) || true
  echo "$r ${v:-none}" >> /run/wscrape.log
  sleep 0.1
done'
sleep 1
for i in $(seq %d); do
  [ "$i" -eq 1 ] || sleep %d
  a=$(date +%%s.%%N); systemctl daemon-reload; b=$(date +%%s.%%N)
  echo "RELOAD $a $b"
done
sleep %d
systemctl stop wscraper
cat /run/wscrape.log`, hostWardenURL, hostReloads, hostReloadGap, hostReloadTrail))
	var r reloadResult
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "RELOAD" {
			a, _ := strconv.ParseFloat(f[1], 64)
			b, _ := strconv.ParseFloat(f[2], 64)
			r.reloads = append(r.reloads, secondsOf(b-a))
			continue
		}
		if len(f) != 3 {
			// curl wrote nothing at all (killed by the stop): not a scrape.
			continue
		}
		r.scrapes++
		if d, err := strconv.ParseFloat(f[1], 64); err == nil {
			r.maxScrape = max(r.maxScrape, secondsOf(d))
			if secondsOf(d) > 250*time.Millisecond {
				r.slow++
			}
		}
		switch {
		case f[0] != "200" || f[2] == "none":
			r.none++
		case f[2] == "1":
			r.good++
		default:
			r.bad++
		}
	}
	return r
}

type scrapeResult struct {
	name            string
	times           []time.Duration
	median, max     time.Duration
	errors          int           // non-200 answers
	pid1, dbus, own time.Duration // CPU per scrape: systemd, dbus-daemon, the exporter itself
}

// compare scrapes each target, one after the other in the same run, 3 times
// to warm up and then n times, from inside the container with curl
// --compressed (Prometheus asks for gzip), and reads the CPU systemd,
// dbus-daemon and the exporter spent meanwhile.
func (h *benchHost) compare(n int, targets []struct{ name, url, unit string }) []scrapeResult {
	h.t.Helper()
	var script strings.Builder
	fmt.Fprintf(&script, `
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
dbus=$(systemctl show -p MainPID --value dbus.service)
hz=$(getconf CLK_TCK)
run() { name=$1 url=$2 own=$3
  for i in 1 2 3; do curl -s --compressed --noproxy '*' --max-time %[1]d -o /dev/null "$url" || true; done
  p=$(cpu 1) d=$(cpu $dbus) o=$(cpu $own)
  for i in $(seq %[2]d); do
    r=$(curl -s --compressed --noproxy '*' --max-time %[1]d -o /dev/null -w '%%{http_code} %%{time_total}' "$url") || true
    echo "T $name $r"
  done
  echo "CPU $name $hz $(( $(cpu 1) - p )) $(( $(cpu $dbus) - d )) $(( $(cpu $own) - o ))"
}
`, hostScrapeBound, n)
	for i, tg := range targets {
		fmt.Fprintf(&script, "run %d %s \"$(systemctl show -p MainPID --value %s)\"\n", i, tg.url, tg.unit)
	}
	out := h.sh(time.Duration(len(targets)*(n+3)*hostScrapeBound+60)*time.Second, script.String())
	results := make([]scrapeResult, len(targets))
	for i, tg := range targets {
		results[i].name = tg.name
	}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		i, err := strconv.Atoi(f[1])
		if err != nil || i < 0 || i >= len(results) {
			continue
		}
		r := &results[i]
		switch {
		case f[0] == "T" && len(f) == 4:
			if f[2] != "200" {
				r.errors++
			}
			d, _ := strconv.ParseFloat(f[3], 64)
			r.times = append(r.times, secondsOf(d))
		case f[0] == "CPU" && len(f) == 6:
			hz, _ := strconv.Atoi(f[2])
			tick := time.Second / time.Duration(max(hz, 1))
			per := func(s string) time.Duration {
				v, _ := strconv.Atoi(s)
				return time.Duration(v) * tick / time.Duration(n)
			}
			r.pid1, r.dbus, r.own = per(f[3]), per(f[4]), per(f[5])
		}
	}
	for i := range results {
		if len(results[i].times) != n {
			h.t.Fatalf("%s: %d scrapes timed, want %d:\n%s", results[i].name, len(results[i].times), n, out)
		}
		results[i].median, results[i].max = medianMax(results[i].times)
	}
	return results
}

// TestHostSystemBus measures the packaged exporter on a booted Debian host
// (pure cgroup v2, as production Debian 12), over dbus-daemon's system bus:
// start to first good scrape at ~250 units, scrapes failed through
// daemon-reloads at ~250 and WARDEN_BENCH_UNITS (default 2000) units, and
// node_exporter's systemd collector against it at WARDEN_BENCH_UNITS units.
func TestHostSystemBus(t *testing.T) {
	units := envInt("WARDEN_BENCH_UNITS", 2000)
	scrapes := envInt("WARDEN_BENCH_SCRAPES", 20)
	if os.Geteuid() != 0 {
		t.Fatal("needs root: booting a system container")
	}
	if goarch := os.Getenv("GOARCH"); goarch != "" && goarch != "amd64" {
		t.Fatal("the package is built for amd64 here")
	}
	if _, err := exec.LookPath("prometheus-node-exporter"); err != nil {
		t.Fatal("prometheus-node-exporter not found: bench/host.sh installs it")
	}
	benchStart := time.Now()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir, version := sysboxtest.Packages(t, root)
	t.Logf("built warden-exporter_%s_amd64.deb in %v", version, time.Since(benchStart).Round(time.Millisecond))

	// The host enables node_exporter on :9100 and Prometheus (which scrapes
	// it): neither runs unless started here.
	h := &benchHost{Host: sysboxtest.Boot(t, sysboxtest.Options{
		Bind: dir, UnifiedCgroup: true,
		Mask: []string{"prometheus-node-exporter.service", "prometheus.service"},
	}), t: t}
	base := h.loadedUnits()
	small := h.unitsTo(hostSmallUnits)
	// Every unit's series, like node_exporter's systemd collector: the
	// comparison below is of like with like (the default is compact).
	h.sh(2*time.Minute, `
mkdir -p /etc/default
echo 'ARGS="--systemd.unit-series=full"' >/etc/default/warden_exporter
dpkg -i --force-confold `+sysboxtest.Deb(version)+` >/dev/null
systemctl is-enabled warden_exporter >/dev/null`)
	h.waitGood("the packaged exporter answers after the install")

	// 1. Start to the first good scrape.
	anyAnswer, good := h.startRuns(hostStarts)
	goodMed, goodMax := medianMax(good)
	anyMed, anyMax := medianMax(anyAnswer)

	// 2. Scrapes through daemon-reload, at ~250 units, then at `units`.
	smallWarden := countPrefix(h.metric(hostWardenURL), "warden_unit_state{")
	reloadSmall := h.reloadRun()
	big := h.unitsTo(units)
	h.waitGood("the exporter answers with systemd success 1 at " + strconv.Itoa(big) + " units")
	reloadBig := h.reloadRun()

	// 3. node_exporter against the packaged exporter at `units`, same run.
	// The flags of bench/systemd.sh's comparison (restarts and start times
	// on, services and sockets as warden's default), run by hand as root:
	// once over the system bus, once over systemd's private socket (what
	// bench/systemd.sh gives it).
	nodeFlags := `--collector.disable-defaults --collector.systemd --collector.systemd.enable-restarts-metrics --collector.systemd.enable-start-time-metrics --collector.systemd.unit-include='.+\.(service|socket)'`
	h.sh(time.Minute, `
systemd-run --quiet --unit=wnode /usr/bin/prometheus-node-exporter `+nodeFlags+` --web.listen-address=127.0.0.1:9100
systemd-run --quiet --unit=wnodepriv /usr/bin/prometheus-node-exporter `+nodeFlags+` --collector.systemd.private --web.listen-address=127.0.0.1:9101`)
	for _, u := range []string{hostNodeURL, hostNodePrivate} {
		h.WaitFor(t, "node_exporter at "+u, 60*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
			defer cancel()
			_, err := h.Exec(ctx, "curl", "-sf", "--noproxy", "*", "--max-time", "60", "-o", "/dev/null", u)
			return err == nil
		})
	}
	wBody, nBody, pBody := h.metric(hostWardenURL), h.metric(hostNodeURL), h.metric(hostNodePrivate)
	wSeries, nSeries, pSeries := countPrefix(wBody, "warden_unit_state{"), countPrefix(nBody, "node_systemd_unit_state{"), countPrefix(pBody, "node_systemd_unit_state{")
	wOK := strings.Contains(wBody, "\nwarden_collector_success{collector=\"systemd\"} 1\n")
	nOK := strings.Contains(nBody, "\nnode_scrape_collector_success{collector=\"systemd\"} 1\n")
	pOK := strings.Contains(pBody, "\nnode_scrape_collector_success{collector=\"systemd\"} 1\n")
	res := h.compare(scrapes, []struct{ name, url, unit string }{
		{"warden_exporter (packaged, system bus)", hostWardenURL, "warden_exporter"},
		{"node_exporter 1.5.0 (system bus)", hostNodeURL, "wnode"},
		{"node_exporter 1.5.0 (--collector.systemd.private)", hostNodePrivate, "wnodepriv"},
	})
	w, n, p := res[0], res[1], res[2]

	var out strings.Builder
	fmt.Fprintf(&out, "\nbooted host (cgroup v2, system bus): %d units at boot\n", base)
	fmt.Fprintf(&out, "\n1. systemctl start warden_exporter to the first answer with systemd success 1, %d units, %d runs\n", small, hostStarts)
	fmt.Fprintf(&out, "   first good answer: %v  median %v  max %v\n", roundAll(good), goodMed.Round(time.Millisecond), goodMax.Round(time.Millisecond))
	fmt.Fprintf(&out, "   first answer:      %v  median %v  max %v\n", roundAll(anyAnswer), anyMed.Round(time.Millisecond), anyMax.Round(time.Millisecond))
	fmt.Fprintf(&out, "\n2. scraping every 100 ms through %d daemon-reloads %ds apart and %ds after\n", hostReloads, hostReloadGap, hostReloadTrail)
	fmt.Fprintf(&out, "   %-12s %8s %10s %10s %10s %10s %11s  %s\n", "units", "scrapes", "success 1", "success 0", "no answer", "> 250 ms", "max scrape", "daemon-reload took")
	for _, r := range []struct {
		units int
		r     reloadResult
	}{{small, reloadSmall}, {big, reloadBig}} {
		fmt.Fprintf(&out, "   %-12d %8d %10d %10d %10d %10d %11v  %v\n", r.units, r.r.scrapes, r.r.good, r.r.bad, r.r.none, r.r.slow, r.r.maxScrape.Round(time.Millisecond), roundAll(r.r.reloads))
	}
	fmt.Fprintf(&out, "\n3. %d units, %d scrapes each (after 3 to warm up), gzip, same run, from inside the host\n", big, scrapes)
	fmt.Fprintf(&out, "   %-50s %10s %10s %7s %8s %10s %14s %12s %10s\n", "target", "median", "max", "errors", "success", "unit_state", "systemd CPU/s", "dbus CPU/s", "own CPU/s")
	for i, r := range res {
		ok, series := []bool{wOK, nOK, pOK}[i], []int{wSeries, nSeries, pSeries}[i]
		fmt.Fprintf(&out, "   %-50s %10v %10v %7d %8v %10d %14v %12v %10v\n", r.name, r.median.Round(10*time.Microsecond), r.max.Round(10*time.Microsecond), r.errors, ok, series, r.pid1, r.dbus, r.own)
	}
	fmt.Fprintf(&out, "   all times (ms):\n")
	for _, r := range res {
		fmt.Fprintf(&out, "   %-50s %v\n", r.name, millis(r.times))
	}
	ratio := float64(n.median) / float64(w.median)
	fmt.Fprintf(&out, "   node_exporter / warden_exporter (median): system bus %.1fx, private socket %.1fx   (target >= 20x)\n", ratio, float64(p.median)/float64(w.median))
	fmt.Fprintf(&out, "   (warden_unit_state at %d units: %d series)\n", small, smallWarden)
	fmt.Fprintf(&out, "bench time %v\n", time.Since(benchStart).Round(time.Second))

	fmt.Fprintf(&out, "SUMMARY|host: start to first good scrape, %d units (median of %d)|%v|max %v|-|<= 1s\n", small, hostStarts, goodMed.Round(time.Millisecond), goodMax.Round(time.Millisecond))
	for _, r := range []struct {
		units int
		r     reloadResult
	}{{small, reloadSmall}, {big, reloadBig}} {
		fmt.Fprintf(&out, "SUMMARY|host: scrapes failed through %d daemon-reloads, %d units|%d of %d|%d success 0, %d no answer|-|0\n", hostReloads, r.units, r.r.bad+r.r.none, r.r.scrapes, r.r.bad, r.r.none)
	}
	fmt.Fprintf(&out, "SUMMARY|host: system bus, %d units: median scrape|%v|node_exporter %v|%.1fx faster|>= 20x\n", big, w.median.Round(100*time.Microsecond), n.median.Round(time.Millisecond), ratio)
	fmt.Print(out.String())

	if !wOK || !nOK || !pOK || wSeries == 0 || nSeries == 0 || pSeries == 0 {
		t.Errorf("a target failed its systemd collector or served no unit state: warden %v/%d, node bus %v/%d, node private %v/%d", wOK, wSeries, nOK, nSeries, pOK, pSeries)
	}
	if w.errors+n.errors+p.errors > 0 {
		t.Errorf("non-200 answers: warden %d, node bus %d, node private %d", w.errors, n.errors, p.errors)
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

func millis(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
	}
	return out
}
