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
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/common/version"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/verdict"
)

// landingMaxAge is how old the last evaluation may be for the landing page
// to show it rather than run one: a page view dials no probe while
// Prometheus scrapes (every 15-60 s), and at most one evaluation per
// landingMaxAge when nothing does.
const landingMaxAge = time.Minute

// landingPage renders the checks on the server: it works with curl and
// without scripts, and shows the last evaluation with its time.
type landingPage struct {
	telemetryPath string
	timeout       time.Duration
	writeTimeout  time.Duration
	gate          *requestGate
	exporter      *collector.Exporter
	logger        log.Logger
	now           func() time.Time
	// own is the Summary of the page's last evaluation of its own. The
	// exporter's Last leaves out an evaluation a deadline cut short, this
	// page's too (a probe's timeout longer than its timeout); the page
	// shows its own all the same: its timeout is the operator's, the
	// same for every visitor, and kept, a view within landingMaxAge
	// dials nothing.
	own atomic.Pointer[collector.Evaluation]
}

type landingData struct {
	Version   string
	Metrics   string
	Evaluated *collector.Evaluation
	Age       string
	Note      string // why no fresh evaluation is shown, if so
	Rows      []landingRow
	// Failed are the host's failed units (see verdict.FailedUnits).
	Failed   verdict.FailedUnits
	Learning discovery.Learning
}

type landingRow struct {
	Check, Status, Reason string
	Implicit              bool
	Service               string
	Ports, Probes         []landingCell
}

// landingCell is one line of a cell; Bad lines are shown in bold.
type landingCell struct {
	Text string
	Bad  bool
}

func (p *landingPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	data := landingData{Version: version.Info(), Metrics: p.telemetryPath}
	last := p.newest()
	if last == nil || p.now().Sub(last.At) > landingMaxAge {
		// No recent evaluation: run one, through the same limit and
		// sharing as a scrape; refused, the page says so and shows the
		// last one it has.
		ev, err := p.gate.evaluate(r, p.exporter, p.timeout)
		switch {
		case errors.Is(err, errBusy):
			data.Note = "Busy: too many evaluations at once (--web.max-requests); showing the last one."
		case err != nil:
			level.Error(p.logger).Log("msg", "evaluating the checks for the landing page failed", "err", err)
			data.Note = "The evaluation failed; the exporter's log says why."
		default:
			p.own.Store(ev.Summary())
		}
		last = p.newest()
	}
	data.Learning = p.exporter.Learning()
	if last != nil {
		data.Evaluated = last
		data.Age = p.now().Sub(last.At).Round(time.Second).String()
		for _, v := range last.Verdicts {
			data.Rows = append(data.Rows, rowOf(v))
		}
		data.Failed = last.FailedUnits
	}
	var body bytes.Buffer
	if err := landingTemplate.Execute(&body, data); err != nil {
		level.Error(p.logger).Log("msg", "rendering the landing page failed", "err", err)
		http.Error(w, "Rendering the page failed; the exporter's log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	writeWithin(w, p.writeTimeout, http.StatusOK, body.Bytes())
}

// newest is the newer of the exporter's Last and the page's own
// evaluation, or nil before either.
func (p *landingPage) newest() *collector.Evaluation {
	last, own := p.exporter.Last(), p.own.Load()
	if last == nil || own != nil && own.At.After(last.At) {
		return own
	}
	return last
}

// rowOf says per layer what /checks says, in words.
func rowOf(v verdict.Verdict) landingRow {
	row := landingRow{Check: v.Check, Status: string(v.Status), Reason: v.Reason, Implicit: v.Implicit}
	if u := v.Unit; u != nil {
		switch {
		case !u.Known:
			row.Service = u.Name + ": unknown"
		case !u.Loaded():
			row.Service = u.Name + ": " + u.LoadState
		default:
			row.Service = u.Name + ": " + u.ActiveState + "/" + u.SubState
		}
		if u.SocketActivated != "" {
			row.Service += " (socket activated by " + u.SocketActivated + ")"
		}
		if u.TimerIdle != "" {
			row.Service += " (idle between runs of " + u.TimerIdle + ")"
		}
	}
	if c := v.Container; c != nil {
		if row.Service != "" {
			row.Service += "; "
		}
		row.Service += containerCell(c)
	}
	for _, p := range v.Ports {
		cell := landingCell{Text: p.String() + " "}
		if p.ContainerPort != 0 {
			cell.Text = fmt.Sprintf("%s → %d inside ", p, p.ContainerPort)
		}
		switch {
		case p.BetweenRuns && p.Known && p.Owned != verdict.OwnedByOther:
			cell.Text += "expected while it runs"
		case !p.Known:
			cell.Text += "unknown"
		case p.ContainerPort != 0 && p.ListeningOnHost && !p.ListeningInside:
			cell.Text, cell.Bad = cell.Text+"not listening inside the container", true
		case !p.Listening:
			cell.Text, cell.Bad = cell.Text+"not listening", true
		case p.Owned == verdict.OwnedByOther:
			owners := make([]string, 0, len(p.Seen))
			for _, s := range p.Seen {
				owners = append(owners, cmp.Or(s.Owner, "?"))
			}
			cell.Text, cell.Bad = cell.Text+"listening, held by "+strings.Join(owners, ", "), true
		default:
			cell.Text += "listening"
		}
		if p.Source != "" && p.Source != verdict.SourceConfigured {
			// Where the expectation comes from: "learned", or the line of
			// the daemon's own configuration that asks for it.
			cell.Text += " (" + p.Source + ")"
		}
		row.Ports = append(row.Ports, cell)
	}
	if dc := v.DaemonConfig; dc != nil {
		switch {
		case dc.Error != "":
			row.Ports = append(row.Ports, landingCell{Text: dc.Daemon + "'s configuration not read, ports learned: " + dc.Error})
		case dc.NotApplied:
			row.Ports = append(row.Ports, landingCell{Text: dc.Daemon + "'s configuration changed, not applied: it asks for " +
				strings.Join(dc.Configured, ", "), Bad: true})
		}
	}
	if c := v.Container; c != nil && c.Health != "" && c.Health != "none" {
		cell := landingCell{Text: "health check: " + c.Health}
		if c.Health == "unhealthy" {
			cell.Text, cell.Bad = fmt.Sprintf("%s (%d in a row): %s", cell.Text, c.HealthFailingStreak, c.HealthOutput), true
		}
		row.Probes = append(row.Probes, cell)
	}
	for _, p := range v.Probes {
		cell := landingCell{Text: p.Target + " "}
		switch {
		case !p.Known:
			cell.Text += "unknown"
		case p.Stale:
			// Its last result, whatever it said, is too old to stand for
			// the target now: the check is unknown, and this is why.
			cell.Text, cell.Bad = cell.Text+fmt.Sprintf("stale: last result %.0f s old", p.AgeSeconds), true
		case p.Success:
			cell.Text += fmt.Sprintf("ok, %.1f ms", p.DurationSeconds*1000)
		default:
			cell.Text, cell.Bad = cell.Text+string(p.Reason)+": "+p.Error, true
		}
		row.Probes = append(row.Probes, cell)
	}
	return row
}

// landingTemplate escapes every value (html/template): check names, unit
// names and a peer's error text are not the exporter's to trust.
var landingTemplate = template.Must(template.New("landing").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>warden_exporter</title>
<style>
body { font-family: sans-serif; margin: 0; }
header { background: #e6522c; color: #fff; padding: 0.5em 1em; }
header h1 { margin: 0; font-size: 1.5em; }
main { padding: 1em; }
#warden-checks { border-collapse: collapse; margin-top: 1em; }
#warden-checks td, #warden-checks th { border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }
#warden-checks tr.ok td.status { background: #c8f0c8; }
#warden-checks tr td.status { background: #f8c8c8; }
#warden-checks tr.unknown td.status, #warden-checks tr.probe_failed td.status { background: #f8e8b0; }
#warden-failed-units { border-collapse: collapse; }
#warden-failed-units td, #warden-failed-units th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
</style>
</head>
<body>
<header><h1>warden_exporter</h1></header>
<main>
<p>Is each service running, listening where it should, and answering? Which layer failed?</p>
<p>Version: {{.Version}}</p>
<ul>
<li><a href="/checks">Checks</a>: every check's verdict, per layer, as JSON (a new evaluation)</li>
<li><a href="{{.Metrics}}">Metrics</a></li>
<li><a href="/config">Configuration</a>: the configuration in effect, secrets redacted</li>
<li><a href="/-/healthy">Health</a></li>
</ul>
<h2>Checks</h2>
{{with .Note}}<p><b>{{.}}</b></p>{{end}}
{{if .Evaluated}}<p id="evaluated">Evaluated at {{.Evaluated.At.UTC.Format "2006-01-02 15:04:05 UTC"}} ({{.Age}} ago).</p>
<table id="warden-checks">
<thead><tr><th>check</th><th>status</th><th>why</th><th>service</th><th>ports</th><th>probes</th></tr></thead>
<tbody>
{{range .Rows}}<tr class="{{.Status}}"><td>{{.Check}}{{if .Implicit}} <i>(learned)</i>{{end}}</td><td class="status">{{.Status}}</td><td>{{.Reason}}</td><td>{{.Service}}</td>
<td>{{range $i, $c := .Ports}}{{if $i}}<br>{{end}}{{if $c.Bad}}<b>{{$c.Text}}</b>{{else}}{{$c.Text}}{{end}}{{end}}</td>
<td>{{range $i, $c := .Probes}}{{if $i}}<br>{{end}}{{if $c.Bad}}<b>{{$c.Text}}</b>{{else}}{{$c.Text}}{{end}}{{end}}</td></tr>
{{else}}<tr><td colspan="6">no checks{{if .Learning.Candidates}} yet: discovery is learning (below){{end}}</td></tr>
{{end}}</tbody>
</table>
{{else}}<p>No evaluation yet.</p>{{end}}
{{if .Evaluated}}<h2>Failed units</h2>
{{with .Failed}}{{if not .Known}}<p>unknown: systemd was not read</p>
{{else if .Units}}<table id="warden-failed-units">
<thead><tr><th>unit</th><th>result</th><th>failed since</th><th>check</th></tr></thead>
<tbody>
{{range .Units}}<tr><td>{{.Unit}}</td><td>{{.Result}}</td><td>{{.Since}}</td><td>{{with .Check}}{{.}}{{else}}<i>none</i>{{end}}</td></tr>
{{end}}</tbody>
</table>
{{if .More}}<p>and {{.More}} more failed units (systemctl --failed lists them all).</p>{{end}}
{{else}}<p>none</p>
{{end}}{{end}}{{end}}
{{with .Learning}}{{if .Candidates}}<p id="warden-learning">Discovery is learning {{.Candidates}} candidate port(s), each learned once held for --discovery.min-age:</p>
<ul>{{range .Units}}<li>{{.Unit}}: {{range $i, $p := .Ports}}{{if $i}}, {{end}}{{$p}}{{end}} (learned in {{printf "%.0f" .LearnedInSeconds}}s)</li>{{end}}</ul>{{end}}{{end}}
</main>
</body>
</html>
`))

// containerCell words a check's container for the landing page's service
// column: "container mongo (docker): running", "...: exited 137, OOM
// killed, restarted 5 times".
func containerCell(c *verdict.ContainerVerdict) string {
	s := "container " + c.Name
	if c.Engine != "" {
		s += " (" + c.Engine + ")"
	}
	switch {
	case !c.Known:
		return s + ": unknown (" + c.EngineError + ")"
	case c.EngineError != "":
		return s + ": " + c.EngineError
	case c.State == "not_found":
		return s + ": not found"
	case c.Up:
		return s + ": running"
	}
	s += ": " + c.State
	if c.State == "exited" || c.State == "restarting" || c.State == "dead" {
		s += fmt.Sprintf(" %d", c.ExitCode)
	}
	if c.OOMKilled {
		s += ", OOM killed"
	}
	if c.RestartCount > 0 {
		s += fmt.Sprintf(", restarted %d times", c.RestartCount)
	}
	return s
}
