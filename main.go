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

// Command warden_exporter tells, for every service on a Linux host, whether
// it runs (systemd), listens where it should (kernel listeners) and answers
// (dial probes), and which of those layers failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/warden-exporter/warden_exporter/collector"
	"github.com/warden-exporter/warden_exporter/config"
	"github.com/warden-exporter/warden_exporter/internal/containers"
	"github.com/warden-exporter/warden_exporter/internal/daemonconf"
	"github.com/warden-exporter/warden_exporter/internal/discovery"
	"github.com/warden-exporter/warden_exporter/internal/listeners"
	"github.com/warden-exporter/warden_exporter/internal/probe"
	"github.com/warden-exporter/warden_exporter/internal/processmetrics"
	"github.com/warden-exporter/warden_exporter/internal/selfmetrics"
	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

const (
	programName = "warden_exporter"
	// defaultScrapeTimeout is Prometheus's default scrape_timeout, used when
	// a scrape does not say its own (curl, or an old Prometheus).
	defaultScrapeTimeout = 10 * time.Second
	// shutdownGrace bounds how long in-flight scrapes may finish on SIGTERM.
	shutdownGrace = 5 * time.Second
)

// Exit codes besides 0 (clean shutdown, passing --config.check) and 1 (a
// failure at run time, such as a listen address already in use). The two
// below come from sysexits.h and mean that starting again will not help
// until an operator edits something; the packaged systemd unit lists them
// in RestartPreventExitStatus=, so a bad config is one failed start, not a
// restart loop. (Go's runtime exits 2 on a panic, which is why a bad flag
// is not 2: a crash should still be restarted.)
const (
	exitUsage  = 64 // EX_USAGE: a bad flag or flag value
	exitConfig = 78 // EX_CONFIG: the config file (or --web.config.file) is missing, unreadable or invalid
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New(programName, "Prometheus exporter that tells, for every service on a Linux host, whether it runs (systemd unit state), listens where it should (kernel TCP/UDP listeners) and answers (TCP dial probes), and which of those layers failed.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Version(version.Print(programName))
	app.HelpFlag.Short('h')

	var (
		configFile = app.Flag("config.file", "Path to the configuration file. Without it, the embedded default runs: discovery of every service that owns a listener.").
				PlaceHolder("PATH").String()
		configCheck  = app.Flag("config.check", "Validate the file named by --config.file, print OK or every error, and exit 0 or 78.").Bool()
		webConfig    = kingpinflag.AddFlags(app, ":9863")
		metricsPath  = app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		readHeader   = app.Flag("web.read-header-timeout", "Time a client has to send its request headers; a slow client (slowloris) is cut off after it.").Default("10s").Duration()
		maxRequests  = app.Flag("web.max-requests", "Maximum number of scrapes and /checks requests evaluated at once; more get 503. 0 means no limit.").Default("40").Int()
		writeTO      = app.Flag("web.write-timeout", "Time a client has to take a response once it is ready; a client that does not read is cut off after it (its in-flight slot is freed as soon as the response is ready).").Default("30s").Duration()
		maxConns     = app.Flag("web.max-connections", "Most client connections held at once; past it the longest-idle kept-alive connection is closed (or the new one, if none is idle). 0 means no limit.").Default("256").Int()
		lifecycle    = app.Flag("web.enable-lifecycle", "Enable reload and forgetting a learned check via HTTP request (POST /-/reload, /-/forget). Off, they answer 403; SIGHUP and `systemctl reload` reload either way.").Default("false").Bool()
		lcHosts      = app.Flag("web.lifecycle-allowed-host", "A name the lifecycle endpoints accept in the Host header, besides IP addresses, localhost, this machine's hostname (and its names in /etc/hosts) and the listen addresses' names (others are refused: DNS rebinding). Repeatable.").PlaceHolder("NAME").Strings()
		offset       = app.Flag("scrape.timeout-offset", "Subtracted from the scrape timeout Prometheus sends (X-Prometheus-Scrape-Timeout-Seconds) to leave room for encoding and the network.").Default("0.5s").Duration()
		systemdOn    = app.Flag("collector.systemd", "Read unit state from systemd (the service layer).").Default("true").Bool()
		sdScope      = app.Flag("systemd.scope", "Which systemd manager to read: the system one or the user one of the user running the exporter. One of: [system, user]").Default("system").Enum("system", "user")
		sdAddress    = app.Flag("systemd.address", "D-Bus address or socket path of the manager, for cases the scope does not reach, e.g. /run/systemd/private (spoken to directly) or unix:path=/run/user/1000/bus.").PlaceHolder("ADDRESS").String()
		sdInclude    = app.Flag("systemd.unit-include", "Regexp (anchored) of the units to watch besides those the checks name.").Default(`.+\.(service|socket)`).String()
		sdExclude    = app.Flag("systemd.unit-exclude", "Regexp (anchored) of units not to watch, unless a check names them.").Default("").String()
		sdSeries     = app.Flag("systemd.unit-series", "compact: warden_unit_state, restarts and timestamps for the checks' units (configured and discovered) and warden_unit_state for any failed unit, warden_unit_load_state only for a check's unit that is not loaded; full: every watched unit's (~9 series a unit) and every check's unit's load state set. One of: [compact, full]").Default("compact").Enum("compact", "full")
		listenersOn  = app.Flag("collector.listeners", "Read the kernel's listening sockets (the port layer).").Default("true").Bool()
		lsSource     = app.Flag("listeners.source", "How to read listening sockets: netlink sock_diag, /proc/net (procfs), or auto (netlink, falling back to procfs once if refused). One of: [auto, netlink, procfs]").Default("auto").Enum("auto", "netlink", "procfs")
		lsMax        = app.Flag("listeners.max-series", "Most warden_listener_info series per scrape; beyond it they are counted in warden_listener_series_dropped_total. -1: no cap.").Default("1000").Int()
		probesOn     = app.Flag("collector.probes", "Dial the checks' probe targets (the answer layer).").Default("true").Bool()
		probeConc    = app.Flag("probe.concurrency", "Most probes running at once in a scrape.").Default("16").Int()
		probeBgConc  = app.Flag("probe.interval-concurrency", "Most probes with an interval running at once, all of them together: each runs on its own schedule, and waits for a free slot only while this many are running (targets that hang).").Default(fmt.Sprint(collector.DefaultMaxIntervalProbes)).Int()
		watchEvery   = app.Flag("watch.interval", "Between scrapes, judge every check this often (reading the listeners) and whenever a unit changes (from systemd's signals), for the counters of what happens between scrapes (warden_check_status_changes_total, warden_check_down_seconds_total). 0 turns the watch off; at least 100ms.").Default("1s").Duration()
		daemonConf   = app.Flag("collector.daemon-config", "Read the checks' daemons' own configuration (nginx, Apache, HAProxy, Redis, PostgreSQL, MariaDB, OpenSSH, MongoDB, memcached) for their expected ports; off, their ports are learned.").Default("true").Bool()
		daemonSettle = app.Flag("daemon-config.settle", "After a unit's reload or restart, how long the sockets its configuration asks for anew may still be unbound (nginx binds after its reload returns).").Default(daemonconf.SettleWindow.String()).Duration()
		containersOn = app.Flag("collector.containers", "Read the container engines (Docker, Podman) for the checks that name a container, and for discovery's checks of the containers that publish ports. An engine whose socket is not there costs a stat per resync.").Default("true").Bool()
		dockerHost   = app.Flag("containers.docker-host", "Docker's API address (unix:// or tcp://); default: $DOCKER_HOST, else unix:///var/run/docker.sock.").PlaceHolder("ADDRESS").String()
		podmanHost   = app.Flag("containers.podman-host", "Podman's API address (unix:// or tcp://); default: $CONTAINER_HOST, else unix:///run/podman/podman.sock.").PlaceHolder("ADDRESS").String()
		discState    = app.Flag("discovery.state-file", "File that keeps what discovery learned across restarts (written atomically); without it, only for the life of the process.").PlaceHolder("PATH").String()
		discForget   = app.Flag("discovery.forget-after", "Forget a learned unit that has been gone (not loaded) this long.").Default("24h").Duration()
		discMinAge   = app.Flag("discovery.min-age", "Learn a port only once it has been seen this long (short-lived listeners are not learned).").Default("1m").Duration()
		discRelearn  = app.Flag("discovery.relearn-after", "Stop expecting a learned port once it has been missing this long while its unit, active without a restart, listens on a port that appeared since (the service moved).").Default("1h").Duration()
		logLevel     = app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").Default("info").Enum("debug", "info", "warn", "error")
		logFormat    = app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").Default("logfmt").Enum("logfmt", "json")
		maxProcs     = app.Flag("runtime.gomaxprocs", "The most CPUs the exporter's Go code runs on at once (GOMAXPROCS). 0: Go's default, every CPU the process may use.").Envar("GOMAXPROCS").Default("1").Int()
	)

	exitCode := -1
	app.Terminate(func(code int) {
		if exitCode < 0 {
			exitCode = code
		}
	})
	if _, err := app.Parse(args); err != nil {
		fmt.Fprintf(stderr, "%s: error: %v, try --help\n", programName, err)
		return exitUsage
	}
	if exitCode >= 0 { // --help or --version
		return exitCode
	}

	if *configCheck {
		return checkConfig(*configFile, stdout, stderr)
	}

	logger, slogger, err := newLoggers(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return exitUsage
	}
	if !strings.HasPrefix(*metricsPath, "/") || reservedPath(*metricsPath) {
		level.Error(logger).Log("msg", "invalid --web.telemetry-path: it must be a plain, clean path starting with / (no {wildcards}, no trailing /) and not /, /config, /checks or under /-/", "path", *metricsPath)
		return exitUsage
	}
	// Each layer is nil (an interface, not a typed nil) when it is off.
	var (
		unitReader     collector.UnitReader
		listenerReader collector.ListenerReader
		prober         collector.ProbeRunner
	)
	if *systemdOn {
		client, err := newSystemdClient(*sdScope, *sdAddress, *sdInclude, *sdExclude, logger)
		if err != nil {
			level.Error(logger).Log("msg", "invalid systemd flags", "err", err)
			return exitUsage
		}
		defer client.Close()
		unitReader = client
	}
	if *listenersOn {
		reader, err := listeners.New(listeners.Options{Mode: *lsSource, Logger: log.With(logger, "layer", "listeners")})
		if err != nil {
			level.Error(logger).Log("msg", "invalid listener flags", "err", err)
			return exitUsage
		}
		defer reader.Close()
		listenerReader = reader
	}
	if *probesOn {
		if *probeConc < 1 {
			level.Error(logger).Log("msg", "invalid --probe.concurrency: at least 1", "value", *probeConc)
			return exitUsage
		}
		if *probeBgConc < 1 {
			level.Error(logger).Log("msg", "invalid --probe.interval-concurrency: at least 1", "value", *probeBgConc)
			return exitUsage
		}
		prober = probe.New(probe.Options{Concurrency: *probeConc, Logger: log.With(logger, "layer", "probes")})
	}
	if *writeTO <= 0 || *maxConns < 0 || *maxRequests < 0 {
		level.Error(logger).Log("msg", "invalid web flags: --web.write-timeout must be positive, --web.max-connections and --web.max-requests 0 (no limit) or more",
			"write_timeout", *writeTO, "max_connections", *maxConns, "max_requests", *maxRequests)
		return exitUsage
	}
	if *watchEvery < 0 || *watchEvery > 0 && *watchEvery < collector.MinWatchInterval {
		level.Error(logger).Log("msg", "invalid --watch.interval: at least 100ms (a listener dump and every check's verdict each time), or 0 for no watch", "value", *watchEvery)
		return exitUsage
	}
	if *lsMax == 0 || *lsMax < -1 {
		level.Error(logger).Log("msg", "invalid --listeners.max-series: use a positive number, or -1 for no cap", "value", *lsMax)
		return exitUsage
	}
	// exporter-toolkit would only find a bad web config once it listens;
	// like --config.file, it is checked before anything starts.
	if err := web.Validate(*webConfig.WebConfigFile); err != nil {
		level.Error(logger).Log("msg", "invalid --web.config.file", "file", *webConfig.WebConfigFile, "err", err)
		return exitConfig
	}
	if *maxProcs > 0 {
		// One by default, as node_exporter since 1.5: the work of a scrape
		// is a few hundred microseconds of CPU spread over a handful of
		// goroutines that mostly wait on systemd and the kernel, and more
		// Ps only cost the handoffs between them. On the 2-core VM, a
		// default scrape of 2,000 units took 0.54 ms of CPU with one
		// against 0.78 ms with two, and answered in 0.56 ms against 0.71
		// ms (medians of 2,000, bench/scrape.sh's setup).
		runtime.GOMAXPROCS(*maxProcs)
	}
	level.Info(logger).Log("msg", "starting "+programName, "version", version.Info(), "build_context", version.BuildContext(), "gomaxprocs", runtime.GOMAXPROCS(0))

	// Subscribe before anything can be signalled: an early SIGHUP (a config
	// manager reacting to our start) must reload, not kill us.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)

	// client_golang's go_* and process_* families, made without its
	// registry and collectors (internal/selfmetrics, internal/processmetrics).
	selfRegistry := selfmetrics.NewRegistry(selfmetrics.NewRuntime(), processmetrics.New())
	selfRegistry.MustRegister(versioncollector.NewCollector(programName))
	rl := newReloader(*configFile, logger, selfRegistry)
	if err := rl.Reload(); err != nil {
		// Already logged with the file and every error; refuse to start on a
		// config the operator did not mean.
		return exitConfig
	}

	var daemonConfigs *daemonconf.Reader
	if *daemonConf && *systemdOn {
		daemonConfigs = daemonconf.NewReader()
		daemonConfigs.Settle = *daemonSettle
		defer daemonConfigs.Close()
	}
	var containerSource collector.ContainerSource
	var containerWatcher *containers.Watcher
	if *containersOn {
		endpoints, err := containers.Resolve(*dockerHost, *podmanHost, os.Getenv)
		if err != nil {
			level.Error(logger).Log("msg", "invalid container engine address", "err", err)
			return exitUsage
		}
		containerWatcher = containers.NewWatcher(containers.WatcherOptions{Endpoints: endpoints, Logger: log.With(logger, "layer", "containers")})
		containerSource = containerWatcher
	}
	exporter, err := collector.New(collector.Options{
		Containers:        containerSource,
		DaemonConfigs:     daemonConfigs,
		Logger:            logger,
		Config:            rl.Config,
		MaxListenerSeries: *lsMax,
		Systemd:           unitReader,
		UnitSeries:        *sdSeries,
		Listeners:         listenerReader,
		Probes:            prober,
		MaxIntervalProbes: *probeBgConc,
		WatchInterval:     *watchEvery,
		Discovery: discovery.Options{
			StateFile:      *discState,
			MinAge:         *discMinAge,
			ForgetAfter:    *discForget,
			RelearnAfter:   *discRelearn,
			EphemeralPorts: ephemeralPortRange("/proc/sys/net/ipv4/ip_local_port_range"),
			Logger:         log.With(logger, "component", "discovery"),
			Registerer:     selfRegistry,
		},
	})
	if err != nil {
		level.Error(logger).Log("msg", "cannot set up the collectors", "err", err)
		return 1
	}
	// On the way out, what discovery learned last is written.
	defer exporter.Close()
	handler := newHandler(serverOptions{
		telemetryPath:  *metricsPath,
		maxRequests:    *maxRequests,
		timeoutOffset:  *offset,
		defaultTimeout: defaultScrapeTimeout - *offset,
		writeTimeout:   *writeTO,
		lifecycle: lifecycleOptions{
			enabled: *lifecycle,
			hosts:   lifecycleHosts("/etc/hosts", *webConfig.WebListenAddresses, *lcHosts),
		},
	}, exporter, selfRegistry, rl, logger)

	conns := newConnLimiter(*maxConns)
	selfRegistry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "warden_web_connections",
			Help: "Client connections the HTTP server holds.",
		}, func() float64 { return float64(conns.open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "warden_web_connections_evicted_total",
			Help: "Connections closed because --web.max-connections was reached (the longest-idle one, or the new one when none was idle).",
		}, func() float64 { return float64(conns.closed.Load()) }),
	)
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: *readHeader,
		// A request has no body worth waiting for; a kept-alive connection
		// that idles is closed. No WriteTimeout: a scrape may take as long
		// as Prometheus allows it, and its own deadline bounds it; the
		// response, once ready, gets --web.write-timeout (writeWithin).
		ReadTimeout: *readHeader + 5*time.Second,
		IdleTimeout: 2 * time.Minute,
		ConnState:   conns.track,
	}
	// Between scrapes: the watch and the probes that have an interval,
	// until the server shuts down.
	background, stopBackground := context.WithCancel(context.Background())
	backgroundDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		if containerWatcher != nil {
			wg.Go(func() { containerWatcher.Run(background) })
		}
		exporter.Run(background)
		wg.Wait()
		close(backgroundDone)
	}()
	shutdownDone := make(chan struct{})
	go func() {
		handleSignals(signals, server, rl, logger)
		stopBackground()
		<-backgroundDone
		close(shutdownDone)
	}()

	if err := web.ListenAndServe(server, webConfig, slogger); err != nil && !errors.Is(err, http.ErrServerClosed) {
		level.Error(logger).Log("msg", "cannot serve HTTP", "err", err)
		return 1
	}
	// Serving ends as soon as Shutdown begins; in-flight scrapes finish
	// while Shutdown waits for them (bounded by shutdownGrace).
	<-shutdownDone
	level.Info(logger).Log("msg", "stopped")
	return 0
}

// handleSignals reloads on SIGHUP and shuts down gracefully on SIGINT/SIGTERM.
func handleSignals(signals <-chan os.Signal, server *http.Server, rl *reloader, logger log.Logger) {
	for sig := range signals {
		if sig == syscall.SIGHUP {
			level.Info(logger).Log("msg", "SIGHUP received, reloading the config")
			_ = rl.Reload() // a failure is logged and exported by Reload
			continue
		}
		level.Info(logger).Log("msg", "shutting down", "signal", sig.String())
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		if err := server.Shutdown(ctx); err != nil {
			level.Warn(logger).Log("msg", "scrapes still running at shutdown were cut off", "err", err)
		}
		cancel()
		return
	}
}

// newSystemdClient builds the systemd client from its flags.
func newSystemdClient(scope, address, include, exclude string, logger log.Logger) (*systemd.Client, error) {
	endpoint, err := systemd.ResolveEndpoint(scope, address, os.Getenv)
	if err != nil {
		return nil, err
	}
	includeRe, err := regexp.Compile("^(?:" + include + ")$")
	if err != nil {
		return nil, fmt.Errorf("--systemd.unit-include: %w", err)
	}
	var excludeRe *regexp.Regexp
	if exclude != "" {
		if excludeRe, err = regexp.Compile("^(?:" + exclude + ")$"); err != nil {
			return nil, fmt.Errorf("--systemd.unit-exclude: %w", err)
		}
	}
	return systemd.New(systemd.Options{
		Endpoint: endpoint,
		Include:  includeRe,
		Exclude:  excludeRe,
		Logger:   log.With(logger, "layer", "systemd"),
	}), nil
}

// reservedPath reports whether p cannot be the telemetry path: another
// route's, or not one plain path. The mux reads "{x}" as a wildcard (/{x}
// served metrics on every path), a trailing slash as a whole subtree, and
// a space as a method or host prefix; an unclean path never matches.
func reservedPath(p string) bool {
	switch p {
	case "/", "/config", "/checks":
		return true
	}
	return strings.HasPrefix(p, "/-/") || strings.ContainsAny(p, "{} \t") ||
		strings.HasSuffix(p, "/") || path.Clean(p) != p
}

// checkConfig is --config.check: like promtool check config, it prints OK or
// every problem, one per line, and sets the exit code.
func checkConfig(path string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintln(stderr, "--config.check needs --config.file=PATH (without a file the embedded default runs, which is always valid)")
		return exitUsage
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %s\n%v\n", path, err)
		return exitConfig
	}
	discovery := "disabled"
	if cfg.Discovery.Enabled {
		discovery = "enabled"
	}
	fmt.Fprintf(stdout, "OK: %s (%d checks, discovery %s)\n", path, len(cfg.Checks), discovery)
	return 0
}

// ephemeralPortRange reads the kernel's ephemeral port range (the ports it
// hands out to unbound sockets): discovery does not learn listeners there.
// Unreadable, it is none.
func ephemeralPortRange(path string) [2]int {
	data, err := os.ReadFile(path)
	if err != nil {
		return [2]int{}
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(data), &lo, &hi); err != nil || lo < 1 || hi < lo || hi > 65535 {
		return [2]int{}
	}
	return [2]int{lo, hi}
}
