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

// Package processmetrics serves the process_* families of client_golang's
// process collector (the same names, help, types and values) for less: that
// collector was ~0.25 ms of CPU a scrape on the 2-core VM, a sixth of a
// default scrape (bench/scrape.sh), mostly the kernel writing files
// anew. This one reads /proc/self/stat and /proc/self/net/netstat through
// descriptors it keeps open (a pread at offset 0 each scrape: no path walk,
// and the kernel's seq_file keeps the buffer it grew, where an open
// netstat's 4 KB text overflows the first page and is generated twice,
// 143 → 55 µs), reads the boot time and the process's start once (both
// fixed; client_golang re-read /proc/stat every scrape) and the limits with
// getrlimit, the very values /proc/self/limits prints.
package processmetrics

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// userHZ is the clock ticks of /proc's times (USER_HZ, 100 on Linux
// whatever the kernel's HZ), as client_golang's procfs takes it.
const userHZ = 100

// Collector collects the process_* families. Make it with New.
type Collector struct {
	cpuTotal, openFDs, maxFDs, vsize, maxVsize, rss, startTime, inBytes, outBytes *prometheus.Desc

	pageSize int
	proc     string // /proc

	mu      sync.Mutex // Collect runs for concurrent scrapes
	stat    int        // /proc/self/stat's descriptor, kept open; -1 until opened
	netstat int        // /proc/self/net/netstat's, likewise
	buf     []byte
	started float64 // process_start_time_seconds, 0 until read

	meta map[*prometheus.Desc]*family // written once, by newAt
}

// New returns a collector of this process's process_* families.
func New() *Collector {
	return newAt("/proc")
}

func newAt(proc string) *Collector {
	c := &Collector{
		pageSize: os.Getpagesize(),
		proc:     proc,
		buf:      make([]byte, 16<<10),
		stat:     -1,
		netstat:  -1,
		meta:     map[*prometheus.Desc]*family{},
	}
	desc := func(name, help string, typ prometheus.ValueType) *prometheus.Desc {
		d := prometheus.NewDesc(name, help, nil, nil)
		f := &family{name: name, help: help, valueType: typ, typ: dto.MetricType_GAUGE}
		if typ == prometheus.CounterValue {
			f.typ = dto.MetricType_COUNTER
		}
		c.meta[d] = f
		return d
	}
	// client_golang's descriptions, word for word.
	c.cpuTotal = desc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", prometheus.CounterValue)
	c.openFDs = desc("process_open_fds", "Number of open file descriptors.", prometheus.GaugeValue)
	c.maxFDs = desc("process_max_fds", "Maximum number of open file descriptors.", prometheus.GaugeValue)
	c.vsize = desc("process_virtual_memory_bytes", "Virtual memory size in bytes.", prometheus.GaugeValue)
	c.maxVsize = desc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", prometheus.GaugeValue)
	c.rss = desc("process_resident_memory_bytes", "Resident memory size in bytes.", prometheus.GaugeValue)
	c.startTime = desc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", prometheus.GaugeValue)
	c.inBytes = desc("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", prometheus.CounterValue)
	c.outBytes = desc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", prometheus.CounterValue)
	return c
}

// family is what a family's series need of its description.
type family struct {
	name, help string
	valueType  prometheus.ValueType
	typ        dto.MetricType
}

// Describe sends the families' descriptions, in client_golang's order.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpuTotal, c.openFDs, c.maxFDs, c.vsize, c.maxVsize, c.rss, c.startTime, c.inBytes, c.outBytes} {
		ch <- d
	}
}

// Collect sends what can be read; like client_golang's collector made
// without ReportErrors, a file it cannot read leaves its families out of
// this scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.sample() {
		ch <- prometheus.MustNewConstMetric(v.desc, c.meta[v.desc].valueType, v.value)
	}
}

// Families are Collect's series as families, in name order, as a registry
// would gather them, made without one: the families and series are new at
// each call (never modified after), their names and help are shared.
func (c *Collector) Families() ([]*dto.MetricFamily, error) {
	values := c.sample()
	slices.SortFunc(values, func(a, b sampled) int { return strings.Compare(c.meta[a.desc].name, c.meta[b.desc].name) })
	mfs := make([]dto.MetricFamily, len(values))
	ms := make([]dto.Metric, len(values))
	ptrs := make([]*dto.Metric, len(values))
	nums := make([]float64, len(values))
	out := make([]*dto.MetricFamily, len(values))
	for i, v := range values {
		meta := c.meta[v.desc]
		nums[i] = v.value
		if meta.valueType == prometheus.CounterValue {
			ms[i].Counter = &dto.Counter{Value: &nums[i]}
		} else {
			ms[i].Gauge = &dto.Gauge{Value: &nums[i]}
		}
		ptrs[i] = &ms[i]
		mfs[i] = dto.MetricFamily{Name: &meta.name, Help: &meta.help, Type: meta.typ.Enum(), Metric: ptrs[i : i+1 : i+1]}
		out[i] = &mfs[i]
	}
	return out, nil
}

// sampled is one family's value.
type sampled struct {
	desc  *prometheus.Desc
	value float64
}

// sample reads what can be read, in client_golang's order.
func (c *Collector) sample() []sampled {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]sampled, 0, 9)
	add := func(d *prometheus.Desc, v float64) { out = append(out, sampled{d, v}) }
	if st, err := c.readStat(); err == nil {
		add(c.cpuTotal, float64(st.utime+st.stime)/userHZ)
		add(c.vsize, float64(st.vsize))
		add(c.rss, float64(st.rss*c.pageSize))
		if c.started == 0 {
			if boot, err := c.bootTime(); err == nil {
				c.started = float64(boot) + float64(st.starttime)/userHZ
			}
		}
		if c.started != 0 {
			add(c.startTime, c.started)
		}
	}
	if fds, err := c.openFDCount(); err == nil {
		add(c.openFDs, float64(fds))
	}
	var files, space syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &files) == nil && syscall.Getrlimit(syscall.RLIMIT_AS, &space) == nil {
		add(c.maxFDs, float64(files.Cur))
		add(c.maxVsize, float64(space.Cur))
	}
	if received, sent, err := c.readNetstat(); err == nil {
		add(c.inBytes, received)
		add(c.outBytes, sent)
	}
	return out
}

// procStat is what is read of /proc/self/stat.
type procStat struct {
	utime, stime, starttime, vsize uint64
	rss                            int
}

func (c *Collector) readStat() (procStat, error) {
	text, err := c.read(&c.stat, "self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(text)
}

// parseStat reads proc(5)'s fields 14, 15 (utime, stime), 22 (starttime),
// 23 (vsize) and 24 (rss) of /proc/PID/stat. They are counted after the
// command's closing parenthesis: the command may hold spaces and
// parentheses of its own.
func parseStat(text []byte) (procStat, error) {
	end := bytes.LastIndexByte(text, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("no command in %q", text)
	}
	// After ") " the fields from the 3rd (state) on.
	fields := bytes.Fields(text[end+1:])
	const first = 3
	if len(fields) < 24-first+1 {
		return procStat{}, fmt.Errorf("%d fields after the command, want at least %d", len(fields), 24-first+1)
	}
	var st procStat
	var err error
	field := func(n int) uint64 {
		v, e := strconv.ParseUint(string(fields[n-first]), 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("field %d: %w", n, e)
		}
		return v
	}
	st.utime, st.stime, st.starttime, st.vsize = field(14), field(15), field(22), field(23)
	rss, e := strconv.Atoi(string(fields[24-first]))
	if e != nil && err == nil {
		err = fmt.Errorf("field 24: %w", e)
	}
	st.rss = rss
	return st, err
}

// bootTime is /proc/stat's btime.
func (c *Collector) bootTime() (uint64, error) {
	text, err := os.ReadFile(c.proc + "/stat")
	if err != nil {
		return 0, err
	}
	return parseBootTime(text)
}

func parseBootTime(text []byte) (uint64, error) {
	for line := range bytes.Lines(text) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
		}
	}
	return 0, errors.New("no btime line")
}

// openFDCount is the number of the process's descriptors: since Linux 6.2
// the size stat gives /proc/PID/fd, else its entries counted, as
// client_golang's procfs does.
func (c *Collector) openFDCount() (int, error) {
	dir := c.proc + "/self/fd"
	if fi, err := os.Stat(dir); err == nil && fi.Size() > 0 {
		return int(fi.Size()), nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}

// readNetstat is IpExt's InOctets and OutOctets of /proc/self/net/netstat
// (0 when a kernel lacks one, as client_golang serves it).
func (c *Collector) readNetstat() (in, out float64, err error) {
	text, err := c.read(&c.netstat, "self/net/netstat")
	if err != nil {
		return 0, 0, err
	}
	return parseNetstat(text)
}

// parseNetstat finds IpExt's pair of lines: its names, then its values.
func parseNetstat(text []byte) (in, out float64, err error) {
	prefix := []byte("IpExt:")
	var names [][]byte
	for line := range bytes.Lines(text) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		if names == nil {
			names = bytes.Fields(line[len(prefix):])
			continue
		}
		values := bytes.Fields(line[len(prefix):])
		if len(values) != len(names) {
			return 0, 0, fmt.Errorf("IpExt: %d names, %d values", len(names), len(values))
		}
		for i, name := range names {
			var to *float64
			switch string(name) {
			case "InOctets":
				to = &in
			case "OutOctets":
				to = &out
			default:
				continue
			}
			if *to, err = strconv.ParseFloat(string(values[i]), 64); err != nil {
				return 0, 0, fmt.Errorf("IpExt %s: %w", name, err)
			}
		}
		return in, out, nil
	}
	return 0, 0, nil
}

// read reads the whole of a /proc file through *fd, opened at the first
// read and kept (-1: not open); a failed read closes it, to open it anew
// next time. One pread takes the file whole when it fits the buffer: a
// second read at its end would have the kernel generate it again.
func (c *Collector) read(fd *int, name string) ([]byte, error) {
	if *fd < 0 {
		opened, err := syscall.Open(c.proc+"/"+name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", name, err)
		}
		*fd = opened
	}
	for {
		n, err := syscall.Pread(*fd, c.buf, 0)
		if err != nil {
			syscall.Close(*fd)
			*fd = -1
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		if n < len(c.buf) {
			return c.buf[:n], nil
		}
		if len(c.buf) >= maxFile {
			return nil, fmt.Errorf("%s is over %d bytes", name, maxFile)
		}
		c.buf = make([]byte, 2*len(c.buf))
	}
}

// maxFile bounds a /proc file read whole (netstat is ~4 KB).
const maxFile = 1 << 20
