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
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
)

// The lifecycle endpoints, POST /-/reload and /-/forget, change the
// exporter's state. Like Prometheus's, they are off unless
// --web.enable-lifecycle turns them on (SIGHUP and `systemctl reload`
// reload without it), and then only for requests that name the exporter
// by an address, localhost or one of the machine's names: a page that
// rebinds its own DNS name to the exporter's address (DNS rebinding)
// passes the cross-origin check, as the browser thinks it is talking to
// the page's origin, but it cannot make the browser send another Host.

// lifecycleDisabled is the answer without --web.enable-lifecycle:
// Prometheus's, with the flag named.
const lifecycleDisabled = "Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle. SIGHUP and `systemctl reload` reload the configuration without it."

// lifecycleOptions is what the lifecycle endpoints need from the flags.
type lifecycleOptions struct {
	enabled bool
	// hosts are the names a request's Host may give besides an IP address
	// and localhost: the machine's, those of the listen addresses,
	// --web.lifecycle-allowed-host (normalised by hostKey).
	hosts []string
}

// guard serves h to POST and PUT only (usage answers any other method),
// when the lifecycle API is enabled, to a Host it accepts, and not to a
// browser's cross-site request: without auth configured, a page elsewhere
// must not make a visitor's browser reload the config or forget a check.
// net/http's CrossOriginProtection refuses by Sec-Fetch-Site, or by an
// Origin whose host is not the one asked; curl, Prometheus and config
// managers send neither header and pass.
func (l lifecycleOptions) guard(usage string, h http.HandlerFunc) http.Handler {
	return http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, usage, http.StatusMethodNotAllowed)
			return
		}
		if !l.enabled {
			http.Error(w, lifecycleDisabled, http.StatusForbidden)
			return
		}
		if !l.hostAllowed(r.Host) {
			// %q: the header is the client's, quoted so it cannot shape the answer.
			http.Error(w, fmt.Sprintf("Host %q is refused on state-changing endpoints (a defence against DNS rebinding): use an IP address, localhost or this machine's name, or allow the name with --web.lifecycle-allowed-host.", r.Host), http.StatusForbidden)
			return
		}
		h(w, r)
	}))
}

// hostAllowed reports whether a request's Host header names the exporter:
// an IP address (a rebinding page has its own DNS name in Host, never an
// address), localhost, or one of l.hosts. No Host at all (HTTP/1.0) is a
// script's: browsers always send one.
func (l lifecycleOptions) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	key := hostKey(host)
	return key == "localhost" || slices.Contains(l.hosts, key)
}

// hostKey is a DNS name as Host headers are compared: lower case, without
// the root's trailing dot.
func hostKey(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// maxHostsFile bounds what is read of /etc/hosts: a host's file is a few
// hundred bytes; one with an ad-block list is a few megabytes, and the
// machine's own names are at its top.
const maxHostsFile = 1 << 20

// lifecycleHosts returns the names the lifecycle endpoints accept in Host
// besides addresses and localhost: the machine's hostname (os.Hostname,
// often the short name on Debian), the names hostsFile gives it on the
// same line (Debian's installer writes "127.0.1.1 web1.example.org web1",
// so the FQDN a config manager uses is accepted), the names in the listen
// addresses, and extra. No DNS is asked: it is local and bounded.
func lifecycleHosts(hostsFile string, listen, extra []string) []string {
	var names []string
	add := func(n string) {
		if k := hostKey(n); k != "" && !slices.Contains(names, k) {
			names = append(names, k)
		}
	}
	hostname, err := os.Hostname()
	if err == nil && hostname != "" {
		add(hostname)
		for _, alias := range hostsAliases(hostsFile, hostKey(hostname)) {
			add(alias)
		}
	}
	for _, a := range listen {
		if h, _, err := net.SplitHostPort(strings.TrimPrefix(a, "vsock://")); err == nil {
			if _, err := netip.ParseAddr(strings.Trim(h, "[]")); err != nil {
				add(h)
			}
		}
	}
	for _, n := range extra {
		add(n)
	}
	return names
}

// hostsAliases returns every name on the lines of an /etc/hosts-format file
// that list name; nothing if the file cannot be read.
func hostsAliases(path, name string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(io.LimitReader(f, maxHostsFile))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 || !slices.ContainsFunc(fields[1:], func(f string) bool { return hostKey(f) == name }) {
			continue
		}
		out = append(out, fields[1:]...)
	}
	return out
}

// forgetTimeout bounds a /-/forget: systemd's answer and the state file's
// write (a disk can stall).
const forgetTimeout = 10 * time.Second

// forget serves POST /-/forget?check=NAME[&force=true].
func forget(w http.ResponseWriter, r *http.Request, exporter *collector.Exporter, logger log.Logger) {
	q := r.URL.Query()
	name := q.Get("check")
	if name == "" {
		http.Error(w, "Name the learned check: POST /-/forget?check=NAME.", http.StatusBadRequest)
		return
	}
	force := false
	if v := q.Get("force"); v != "" {
		var err error
		if force, err = strconv.ParseBool(v); err != nil {
			http.Error(w, "force must be true or false.", http.StatusBadRequest)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), forgetTimeout)
	defer cancel()
	err := exporter.Forget(ctx, name, force)
	switch {
	case err == nil:
		fmt.Fprintln(w, "Forgotten. A unit that still listens is learned again after --discovery.min-age unless discovery.exclude_units names it.")
	case errors.Is(err, discovery.ErrNotLearned):
		http.Error(w, "No learned check of that name.", http.StatusNotFound)
	case errors.Is(err, collector.ErrStillLoaded):
		// The unit's name is the learned check's, not the caller's text.
		http.Error(w, fmt.Sprintf("Not forgotten: %v. Its check is what tells you whether the service runs; forget a service once it is retired (stopped and its unit file removed), or add force=true: POST /-/forget?check=%s&force=true.", err, name), http.StatusConflict)
	case errors.Is(err, collector.ErrUnitUnread):
		level.Warn(logger).Log("msg", "forgetting a learned check: cannot read its unit", "check", name, "err", err)
		http.Error(w, fmt.Sprintf("Not forgotten: cannot tell whether systemd still has %s loaded (the exporter's log says why). Add force=true to forget it anyway.", name), http.StatusServiceUnavailable)
	case errors.Is(err, discovery.ErrNotPersisted):
		http.Error(w, "Not forgotten: the discovery state file cannot be written (a full or read-only disk?), so a restart would bring the check back. The exporter's log says why; warden_discovery_state_write_failures_total counts the failures. Try again once it can be written.", http.StatusInternalServerError)
	default:
		level.Error(logger).Log("msg", "forgetting a learned check failed", "check", name, "err", err)
		http.Error(w, "Forgetting failed; the exporter's log says why.", http.StatusInternalServerError)
	}
}
