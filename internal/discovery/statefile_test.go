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

package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"golang.org/x/sys/unix"

	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/owner"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// A restart judges a learned unit by the state file's last_loaded. On a
// quiet host nothing else changes, and the file kept the time the unit was
// learned: after 30 hours of the unit loaded, a restart with it stopped
// (or its unit file gone) forgot it at once instead of after the grace.
func TestDiscoveryRestartKeepsTheGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name string
		// after is the unit as the restarted exporter reads it (nil: not
		// in the reading at all).
		after *systemd.Unit
		// keptAt and goneBy are since the restart.
		keptAt, goneBy time.Duration
	}{
		{name: "a unit no longer loaded waits for --discovery.forget-after (24h)", after: nil,
			keptAt: 22 * time.Hour, goneBy: 24*time.Hour + time.Minute},
		{name: "a unit systemd reports not-found waits ten minutes", after: &systemd.Unit{LoadState: "not-found", ActiveState: "inactive"},
			keptAt: 9 * time.Minute, goneBy: 11 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "learned.json")
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			opts := Options{StateFile: state, MinAge: time.Minute, ForgetAfter: 24 * time.Hour, Now: c.now}
			d := New(opts)
			cfg := config.Default()
			scene := discoveryScene{
				units:     map[string]systemd.Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}},
				listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false)},
				owners:    []owner.Owner{{Unit: "web.service"}},
			}
			learnedChecks(d, cfg, scene)
			// Scraped every minute for 30 hours: nothing changes.
			for range 30 * 60 {
				c.t = c.t.Add(time.Minute)
				if got := learnedChecks(d, cfg, scene); len(got) != 1 {
					t.Fatalf("at %s: %+v", c.t, got)
				}
			}
			if lastLoaded := fileLastLoaded(t, state, "web.service"); c.t.Sub(lastLoaded) > time.Hour {
				t.Errorf("after 30 hours loaded, the file's last_loaded is %s old (want at most 1h)", c.t.Sub(lastLoaded))
			}

			// Restarted a minute later; the unit is stopped (or gone).
			c.t = c.t.Add(time.Minute)
			restart := c.t
			after := discoveryScene{units: map[string]systemd.Unit{}}
			if tc.after != nil {
				after.units["web.service"] = *tc.after
			}
			d = New(opts)
			if got := learnedChecks(d, cfg, after); len(got) != 1 {
				t.Fatalf("forgotten at the restart: %+v", got)
			}
			c.t = restart.Add(tc.keptAt)
			if got := learnedChecks(d, cfg, after); len(got) != 1 {
				t.Fatalf("forgotten %s after the restart: %+v", tc.keptAt, got)
			}
			c.t = restart.Add(tc.goneBy)
			if got := learnedChecks(d, cfg, after); len(got) != 0 {
				t.Errorf("still learned %s after the restart: %+v", tc.goneBy, got)
			}
		})
	}
}

// fileLastLoaded reads a unit's last_loaded from the state file.
func fileLastLoaded(t *testing.T, path, unit string) time.Time {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st discoveryState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	lu := st.Units[unit]
	if lu == nil {
		t.Fatalf("%s is not in the state file:\n%s", unit, data)
	}
	return lu.LastLoaded
}

func TestDiscoveryStateFile(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "learned.json")
	scene := discoveryScene{
		units:     map[string]systemd.Unit{"web.service": {LoadState: "loaded", ActiveState: "active"}},
		listeners: []listeners.Listener{lst("tcp", "0.0.0.0", 80, false)},
		owners:    []owner.Owner{{Unit: "web.service"}},
	}
	learnedChecks(New(Options{StateFile: state}), config.Default(), scene)
	// A new process, nothing running: it still expects port 80.
	got := learnedChecks(New(Options{StateFile: state}), config.Default(), discoveryScene{units: map[string]systemd.Unit{}})
	if len(got) != 1 || got[0].Ports[0].Port != 80 {
		t.Fatalf("after a restart: %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the atomic write left files behind: %v", entries)
	}

	// A corrupt file is logged and ignored.
	var logs bytes.Buffer
	os.WriteFile(state, []byte(`{"version": 1, "units": {"x": `), 0o644)
	d := New(Options{StateFile: state, Logger: log.NewLogfmtLogger(&logs)})
	if got := learnedChecks(d, config.Default(), discoveryScene{units: map[string]systemd.Unit{}}); len(got) != 0 {
		t.Errorf("a corrupt file must be ignored: %+v", got)
	}
	if !strings.Contains(logs.String(), "corrupt") {
		t.Errorf("not logged: %s", logs.String())
	}

	// A state file in a read-only place: logged, the exporter goes on.
	logs.Reset()
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	d = New(Options{StateFile: filepath.Join(ro, "learned.json"), Logger: log.NewLogfmtLogger(&logs)})
	if got := learnedChecks(d, config.Default(), scene); len(got) != 1 {
		t.Errorf("learning must go on without a writable state file: %+v", got)
	}
	if os.Geteuid() != 0 && !strings.Contains(logs.String(), "cannot write the discovery state file") {
		t.Errorf("the write failure is not logged: %s", logs.String())
	}
}

// stateNow is the clock of the state file tests; stamp is an hour before.
var (
	stateNow = time.Unix(1_800_000_000, 0).UTC()
	stamp    = stateNow.Add(-time.Hour).Format(time.RFC3339Nano)
)

// portJSON is one learned port as saveLocked encodes it, with its fields given.
func portJSON(proto, addr string, port any, first, last string) string {
	return fmt.Sprintf(`{"proto":%q,"address":%q,"port":%v,"first_seen":%q,"last_seen":%q,"learned":true}`, proto, addr, port, first, last)
}

// loadState loads a state file of units (the JSON object's members) next
// to one good unit, and returns what was kept as "unit/key" and the log.
func loadState(t *testing.T, units string) (map[string]*learnedPort, *Discovery, string) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "learned.json")
	good := `"good.service":{"last_loaded":"` + stamp + `","ports":{"tcp  80":` + portJSON("tcp", "", 80, stamp, stamp) + `}}`
	if units != "" {
		units = "," + units
	}
	if err := os.WriteFile(state, []byte(`{"version":1,"units":{`+good+units+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := &clock{t: stateNow}
	d := New(Options{StateFile: state, Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
	kept := map[string]*learnedPort{}
	for name, u := range d.st.Units {
		if u == nil {
			kept[name] = nil
			continue
		}
		for key, p := range u.Ports {
			kept[name+"/"+key] = p
		}
	}
	return kept, d, logs.String()
}

func TestDiscoveryStateFileDropsInvalidEntries(t *testing.T) {
	future := stateNow.AddDate(1000, 0, 0).Format(time.RFC3339Nano)
	p := func(proto, addr string, port any) string { return portJSON(proto, addr, port, stamp, stamp) }
	unit := func(name string, ports ...string) string {
		return fmt.Sprintf(`%q:{"last_loaded":%q,"ports":{%s}}`, name, stamp, strings.Join(ports, ","))
	}
	long := strings.Repeat("a", 248) + ".service" // 256 bytes
	for _, tc := range []struct {
		name    string
		units   string
		kept    []string // besides good.service/tcp  80
		dropped string   // in the warning; "" for none
	}{
		{"null unit", `"bad.service":null`, nil, "dropped_units=1"},
		{"null port", unit("c.service", `"x":null`, `"tcp  81":`+p("tcp", "", 81)), []string{"c.service/tcp  81"}, "dropped_ports=1"},
		{"null ports", `"c.service":{"last_loaded":"` + stamp + `","ports":null}`, nil, "dropped_units=1"},
		{"no ports", unit("c.service"), nil, "dropped_units=1"},
		{"a unit that is not a service", unit("c.socket", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"no unit suffix", unit("c", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"a slash in the name", unit("../c.service", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"a newline in the name", unit("c\n.service", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"a template", unit("c@.service", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"an instance without a template", unit("@1.service", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"a name of 256 bytes", unit(long, `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"a podman health check's unit", unit(hcID+".service", `"tcp  81":`+p("tcp", "", 81)), nil, "dropped_units=1"},
		{"a service of 63 hex digits", unit(hcID[1:]+".service", `"tcp  81":`+p("tcp", "", 81)), []string{hcID[1:] + ".service/tcp  81"}, ""},
		{"an instance", unit("c@1.service", `"tcp  81":`+p("tcp", "", 81)), []string{"c@1.service/tcp  81"}, ""},
		{"port 0", unit("c.service", `"tcp  0":`+p("tcp", "", 0), `"tcp  81":`+p("tcp", "", 81)), []string{"c.service/tcp  81"}, "dropped_ports=1"},
		{"port 70000", unit("c.service", `"tcp  70000":`+p("tcp", "", 70000), `"tcp  81":`+p("tcp", "", 81)), []string{"c.service/tcp  81"}, "dropped_ports=1"},
		{"a port that is not a number", unit("c.service", `"tcp  82":`+p("tcp", "", `"82"`), `"tcp  81":`+p("tcp", "", 81)), []string{"c.service/tcp  81"}, "dropped_ports=1"},
		{"proto sctp", unit("c.service", `"sctp  81":`+p("sctp", "", 81)), nil, "dropped_ports=1"},
		{"proto TCP", unit("c.service", `"TCP  81":`+p("TCP", "", 81)), nil, "dropped_ports=1"},
		{"a host name", unit("c.service", `"tcp localhost 81":`+p("tcp", "localhost", 81)), nil, "dropped_ports=1"},
		{"an address with a zone", unit("c.service", `"tcp fe80::1%eth0 81":`+p("tcp", "fe80::1%eth0", 81)), nil, "dropped_ports=1"},
		{"no first_seen", unit("c.service", `"tcp  81":{"proto":"tcp","port":81,"last_seen":"`+stamp+`","learned":true}`), nil, "dropped_ports=1"},
		{"no last_seen", unit("c.service", `"tcp  81":{"proto":"tcp","port":81,"first_seen":"`+stamp+`","learned":true}`), nil, "dropped_ports=1"},
		// The key is derived from the entry: a wrong one is mended...
		{"a wrong key", unit("c.service", `"x":`+p("tcp", "", 81)), []string{"c.service/tcp  81"}, "mended=1"},
		{"a mapped address", unit("c.service", `"tcp ::ffff:127.0.0.1 81":`+p("tcp", "::ffff:127.0.0.1", 81)), []string{"c.service/tcp 127.0.0.1 81"}, "mended=1"},
		// ...unless it then names a port the unit already has.
		{"a duplicate", unit("c.service", `"tcp 127.0.0.1 81":`+p("tcp", "127.0.0.1", 81), `"tcp ::ffff:127.0.0.1 81":`+p("tcp", "::ffff:127.0.0.1", 81)),
			[]string{"c.service/tcp 127.0.0.1 81"}, "dropped_ports=1"},
		{"a duplicate under a wrong key", unit("good.service", `"tcp  80":`+p("tcp", "", 80), `"y":`+p("tcp", "", 80)), nil, "dropped_ports=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, _, logs := loadState(t, tc.units)
			want := append([]string{"good.service/tcp  80"}, tc.kept...)
			for _, k := range want {
				if kept[k] == nil {
					t.Errorf("%q was not kept", k)
				}
				delete(kept, k)
			}
			for k := range kept {
				t.Errorf("%q was kept", k)
			}
			warnings := strings.Count(logs, "level=warn")
			switch {
			case tc.dropped == "" && warnings != 0:
				t.Errorf("a valid file was warned about: %s", logs)
			case tc.dropped != "" && (warnings != 1 || !strings.Contains(logs, tc.dropped)):
				t.Errorf("want one warning with %s, got: %s", tc.dropped, logs)
			}
		})
	}

	// Timestamps in the future are set to now rather than dropped: a host
	// whose clock is behind at boot would otherwise lose what it learned.
	// Now they no longer defer learning or forgetting.
	t.Run("future timestamps", func(t *testing.T) {
		kept, d, logs := loadState(t, `"c.service":{"last_loaded":"`+future+`","ports":{"tcp  81":`+portJSON("tcp", "", 81, future, future)+`}}`)
		lp := kept["c.service/tcp  81"]
		if lp == nil || !lp.FirstSeen.Equal(stateNow) || !lp.LastSeen.Equal(stateNow) || !d.st.Units["c.service"].LastLoaded.Equal(stateNow) {
			t.Fatalf("kept %+v, %+v", lp, d.st.Units["c.service"])
		}
		if strings.Count(logs, "level=warn") != 1 || !strings.Contains(logs, "mended=2") {
			t.Errorf("want one warning with mended=2 (the unit and its port): %s", logs)
		}
	})
	// The exporter itself writes first_seen after last_seen when the wall
	// clock steps back between two sightings: that is kept as it is.
	t.Run("first_seen after last_seen", func(t *testing.T) {
		kept, _, logs := loadState(t, unit("c.service", `"tcp  81":`+portJSON("tcp", "", 81, stamp, stateNow.Add(-2*time.Hour).Format(time.RFC3339))))
		if kept["c.service/tcp  81"] == nil || logs != "" {
			t.Errorf("kept %v, logged %s", kept, logs)
		}
	})
	// Several bad entries: still one warning, with the first reason.
	t.Run("one warning per load", func(t *testing.T) {
		_, _, logs := loadState(t, `"a.service":null,"b":null,`+unit("c.service", `"tcp  0":`+p("tcp", "", 0)))
		if strings.Count(logs, "level=warn") != 1 || !strings.Contains(logs, "dropped_units=2 dropped_ports=1") || !strings.Contains(logs, `first="unit \"a.service\" is null"`) {
			t.Errorf("want one warning, dropped_units=2 dropped_ports=1, first a.service: %s", logs)
		}
	})
}

// A state file larger than the cap is refused before it is parsed: the
// exporter starts afresh. One of exactly the cap is read.
func TestDiscoveryStateFileTooLarge(t *testing.T) {
	state := filepath.Join(t.TempDir(), "learned.json")
	body := `{"version":1,"units":{"good.service":{"last_loaded":"` + stamp + `","ports":{"tcp  80":` + portJSON("tcp", "", 80, stamp, stamp) + `}}}}`
	c := &clock{t: stateNow}
	for _, size := range []int{maxStateFileBytes, maxStateFileBytes + 1} {
		// Trailing spaces keep the JSON valid: only the size is wrong.
		if err := os.WriteFile(state, []byte(body+strings.Repeat(" ", size-len(body))), 0o600); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		d := New(Options{StateFile: state, Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
		tooLarge := size > maxStateFileBytes
		if loaded := len(d.st.Units) == 1; loaded == tooLarge {
			t.Errorf("%d bytes: loaded %v", size, d.st.Units)
		}
		if warned := strings.Contains(logs.String(), "larger than"); warned != tooLarge {
			t.Errorf("%d bytes: logged %q", size, logs.String())
		}
	}
}

// A FIFO at the state file's path once blocked load, and New with it, until
// something wrote to it. It is refused without a wait, as is anything
// but a regular file.
func TestDiscoveryStateFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "learned.json")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	done := make(chan *Discovery, 1)
	go func() { done <- New(Options{StateFile: fifo, Logger: log.NewLogfmtLogger(&logs)}) }()
	select {
	case d := <-done:
		if len(d.st.Units) != 0 || !strings.Contains(logs.String(), "not a regular file") {
			t.Errorf("units %v, logged %q", d.st.Units, logs.String())
		}
	case <-time.After(10 * time.Second):
		// Open the writing end so the blocked load returns and the test
		// leaves no goroutine behind.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatal("load blocked on a FIFO")
	}
}

// stateFile writes units (the JSON object's members) as a state file.
func stateFile(t testing.TB, units []string) string {
	t.Helper()
	state := filepath.Join(t.TempDir(), "learned.json")
	if err := os.WriteFile(state, []byte(`{"version":1,"units":{`+strings.Join(units, ",")+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return state
}

// A file over the caps keeps the most recently loaded units and, in a unit,
// the learned ports: the same ones whatever the order of the file.
func TestDiscoveryStateFileOverTheCaps(t *testing.T) {
	c := &clock{t: stateNow}
	ago := func(i int) string { return stateNow.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339) }
	port := func(i int, learned bool) string {
		return fmt.Sprintf(`"tcp  %d":{"proto":"tcp","port":%d,"first_seen":%q,"last_seen":%q,"learned":%v}`, i, i, stamp, stamp, learned)
	}
	load := func(t *testing.T, units []string) (*Discovery, string) {
		var logs bytes.Buffer
		d := New(Options{StateFile: stateFile(t, units), Now: c.now, Logger: log.NewLogfmtLogger(&logs)})
		if strings.Count(logs.String(), "level=warn") != 1 {
			t.Errorf("want one warning: %s", logs.String())
		}
		return d, logs.String()
	}

	t.Run("units", func(t *testing.T) {
		var units []string
		for i := range maxStateUnits + 10 {
			units = append(units, fmt.Sprintf(`"u%d.service":{"last_loaded":%q,"ports":{%s}}`, i, ago(i), port(80, true)))
		}
		d, logs := load(t, units)
		if len(d.st.Units) != maxStateUnits || !strings.Contains(logs, "dropped_units=10 ") {
			t.Fatalf("%d units kept, logged %s", len(d.st.Units), logs)
		}
		for i := range 10 {
			if d.st.Units[fmt.Sprintf("u%d.service", maxStateUnits+i)] != nil {
				t.Errorf("u%d.service, one of the least recently loaded, was kept", maxStateUnits+i)
			}
		}
	})

	t.Run("ports of a unit", func(t *testing.T) {
		var ports []string
		for i := range maxStateUnitPorts + 5 {
			// The candidates sort first by key: the cap must not go by key.
			ports = append(ports, port(1000+i, i >= 5))
		}
		d, logs := load(t, []string{fmt.Sprintf(`"big.service":{"last_loaded":%q,"ports":{%s}}`, stamp, strings.Join(ports, ","))})
		lu := d.st.Units["big.service"]
		if lu == nil || len(lu.Ports) != maxStateUnitPorts || !strings.Contains(logs, "dropped_ports=5 ") {
			t.Fatalf("kept %v, logged %s", lu, logs)
		}
		for _, lp := range lu.Ports {
			if !lp.Learned {
				t.Errorf("a candidate was kept over a learned port: %+v", lp)
			}
		}
	})

	t.Run("ports of every unit", func(t *testing.T) {
		n := maxStatePorts/maxStateUnitPorts + 3
		var units []string
		for u := range n {
			var ports []string
			for i := range maxStateUnitPorts {
				ports = append(ports, port(1000+i, true))
			}
			units = append(units, fmt.Sprintf(`"u%d.service":{"last_loaded":%q,"ports":{%s}}`, u, ago(u), strings.Join(ports, ",")))
		}
		d, logs := load(t, units)
		total := 0
		for _, lu := range d.st.Units {
			total += len(lu.Ports)
		}
		if total != maxStatePorts || len(d.st.Units) != n-3 || !strings.Contains(logs, "dropped_units=3 ") {
			t.Fatalf("kept %d ports of %d units, logged %s", total, len(d.st.Units), logs)
		}
		if d.st.Units[fmt.Sprintf("u%d.service", n-1)] != nil {
			t.Error("the least recently loaded unit was kept")
		}
	})
}
