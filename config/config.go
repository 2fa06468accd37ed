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

// Package config is warden_exporter's configuration: the YAML schema, its
// defaults, strict parsing and validation. Every error names the file, the
// line and the field it is about.
package config

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"time"

	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest config file we read. yaml.v3 builds the whole
// document as a tree of ~170-byte nodes before we see any of it, and a
// node can take as little as one byte of YAML ("{a,a,a}", "?\n?\n"), so
// this limit is what bounds the memory a load takes: 128 KiB peaks under
// 48 MiB RSS whatever its shape (TestWorstCaseConfigMemoryIsBounded; 8 MiB
// took ~818 MB). Real configs are a few kilobytes; 128 KiB holds about
// 1,000 checks written out in block style.
const MaxFileSize = 128 << 10

// DefaultProbeTimeout applies to probes that set no timeout.
const DefaultProbeTimeout = model.Duration(2 * time.Second)

// Config is the whole configuration file.
type Config struct {
	// Discovery turns on the zero-config behaviour: every loaded service unit
	// that owns a listener becomes an implicit check.
	Discovery Discovery `yaml:"discovery"`
	Checks    []Check   `yaml:"checks"`

	// Source is where the config came from: a file path, or "" for the
	// embedded default. Not part of the YAML.
	Source string `yaml:"-"`
}

// Discovery configures implicit checks learned from the host.
type Discovery struct {
	Enabled bool `yaml:"enabled"`
	// ExcludeUnits are regular expressions, matched against the whole unit
	// name, of services never learned.
	ExcludeUnits []Regexp `yaml:"exclude_units,omitempty"`
	// ExcludePorts are ports never learned, whoever listens on them.
	ExcludePorts []int `yaml:"exclude_ports,omitempty"`
	// LearnEphemeralPorts learns listeners in the kernel's ephemeral port
	// range too (net.ipv4.ip_local_port_range): by default a service that
	// listens on a random port each start is not learned, since the port
	// it held would be "down" after every restart.
	LearnEphemeralPorts bool `yaml:"learn_ephemeral_ports,omitempty"`

	excludeUnits []*regexp.Regexp // ExcludeUnits, anchored (validate)
}

// ExcludesUnit reports whether discovery must not learn unit.
func (d *Discovery) ExcludesUnit(unit string) bool {
	for _, re := range d.excludeUnits {
		if re.MatchString(unit) {
			return true
		}
	}
	return false
}

// ExcludesPort reports whether discovery must not learn port.
func (d *Discovery) ExcludesPort(port int) bool { return slices.Contains(d.ExcludePorts, port) }

// Check is one service with the ports it must listen on and the probes it
// must answer.
type Check struct {
	Name string `yaml:"name"`
	Unit string `yaml:"unit,omitempty"`
	// Netns is where the ports are looked up: "host" (default), or "unit",
	// the network namespace of the unit's main process (containers,
	// PrivateNetwork=yes).
	Netns string `yaml:"netns,omitempty"`
	// Container names a container the check judges (Docker's or Podman's):
	// its state is the service layer, its published ports (from the
	// engine's port map) join the port layer, seen both on the host and
	// inside its own network namespace, and its health check joins the
	// answer layer.
	Container string `yaml:"container,omitempty"`
	// Engine is the container's engine, "docker" or "podman"; "" looks in
	// every engine found.
	Engine string  `yaml:"engine,omitempty"`
	Ports  []Port  `yaml:"ports,omitempty"`
	Probes []Probe `yaml:"probes,omitempty"`
	// DependsOn names checks this one needs: while one of them is down,
	// the shipped inhibit rules silence this check's alerts.
	DependsOn []string `yaml:"depends_on,omitempty"`
}

// Port is one socket the check's service must hold.
type Port struct {
	Port int `yaml:"port"`
	// Address restricts the match to a local address; "" matches any.
	Address string `yaml:"address,omitempty"`
	// Proto is "tcp" (default) or "udp".
	Proto string `yaml:"proto"`
	// Source says where the expectation comes from, when not from this
	// file: "learned" (discovery), or the daemon's own configuration
	// ("nginx: /etc/nginx/sites-enabled/default:22"). Not part of the YAML.
	Source string `yaml:"-"`
}

// SourceLearned is the Source of a port discovery learned.
const SourceLearned = "learned"

// AnyPort as an expected port's number stands for any port of the
// check's own unit (of the port's proto, on its address if it has one):
// what discovery expects of a unit whose ports vary at each start. A
// configuration cannot say it (its ports are 1-65535).
const AnyPort = 0

// Probe is one dial of a target, optionally with TLS and a scripted exchange.
type Probe struct {
	Target  string         `yaml:"target"`
	Timeout model.Duration `yaml:"timeout"`
	// IPProtocol picks the address family of a name's addresses: "ip4",
	// "ip6", or "auto" (default: the family of the first address, falling
	// back to the other).
	IPProtocol string `yaml:"ip_protocol"`
	// AllAddresses probes every address the name resolves to (of the
	// chosen families); the probe fails if any fails.
	AllAddresses bool `yaml:"all_addresses,omitempty"`
	// SourceAddress is the local address to dial from.
	SourceAddress string     `yaml:"source_address,omitempty"`
	TLS           bool       `yaml:"tls,omitempty"`
	TLSConfig     *TLSConfig `yaml:"tls_config,omitempty"`
	// StartTLS upgrades a plain connection to TLS first: "smtp".
	StartTLS      string `yaml:"starttls,omitempty"`
	QueryResponse []Step `yaml:"query_response,omitempty"`
	// Interval runs the probe in the background every Interval (at least
	// 1s, and no shorter than Timeout), jittered; a scrape reads its last
	// result. 0 (the default): the probe runs in every scrape.
	Interval model.Duration `yaml:"interval,omitempty"`
}

// Step is one step of a probe's exchange: exactly one of Send, SendFile and
// Expect.
type Step struct {
	// Send is written to the connection as is (YAML's "\r\n" escapes apply
	// in double-quoted strings); after an expect, ${1}, ${name} expand to
	// the groups it captured and $$ to $. /config shows it: it is a
	// protocol greeting by declaration, and credentials belong in SendFile.
	Send string `yaml:"send,omitempty"`
	// SendFile names a file whose content is sent like Send's, expansion
	// included: for what /config must not show. It is read when the config
	// is loaded (relative to the config file, like tls_config's files).
	SendFile string `yaml:"send_file,omitempty"`
	// Expect is a regular expression the data read must match.
	Expect *Regexp `yaml:"expect,omitempty"`

	// sendFileData is SendFile's content as loaded. Unexported, so that no
	// encoder (YAML for /config, JSON) writes it; behind a pointer, so that
	// printing a Step with %v shows an address, not the content.
	sendFileData *string
}

// Payload is what a sending step writes before expansion: Send, or the
// content of SendFile as it was when the config was loaded.
func (s *Step) Payload() string {
	if s.sendFileData != nil {
		return *s.sendFileData
	}
	return s.Send
}

// TLSConfig is the subset of Prometheus's common TLS config that a probe
// needs, with the same field names. Relative file paths are relative to the
// config file's directory.
type TLSConfig struct {
	CA                 string                  `yaml:"ca,omitempty"`
	Cert               string                  `yaml:"cert,omitempty"`
	Key                commonconfig.Secret     `yaml:"key,omitempty"`
	CAFile             string                  `yaml:"ca_file,omitempty"`
	CertFile           string                  `yaml:"cert_file,omitempty"`
	KeyFile            string                  `yaml:"key_file,omitempty"`
	ServerName         string                  `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool                    `yaml:"insecure_skip_verify,omitempty"`
	MinVersion         commonconfig.TLSVersion `yaml:"min_version,omitempty"`
	MaxVersion         commonconfig.TLSVersion `yaml:"max_version,omitempty"`
}

// Common converts to Prometheus's common TLS config, which builds the
// *tls.Config (loading and checking the files).
func (t *TLSConfig) Common() *commonconfig.TLSConfig {
	return &commonconfig.TLSConfig{
		CA: t.CA, Cert: t.Cert, Key: t.Key,
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
		ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify,
		MinVersion: t.MinVersion, MaxVersion: t.MaxVersion,
	}
}

// Regexp is a compiled regular expression that reads from and writes to YAML
// as its source text. Go's RE2 engine runs in time linear in the input, so a
// pattern from the config cannot backtrack catastrophically.
type Regexp struct {
	*regexp.Regexp
}

// UnmarshalYAML compiles the pattern, within the limits of one pattern.
// (The decoder compiles expect patterns itself, to share identical ones
// and bound what all the patterns of a file cost together.)
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a regular expression must be a string")
	}
	re, _, err := compileRegexp(n.Value)
	if err != nil {
		return err
	}
	r.Regexp = re
	return nil
}

// MarshalYAML writes the pattern's source.
func (r Regexp) MarshalYAML() (any, error) {
	if r.Regexp == nil {
		return nil, nil
	}
	return r.String(), nil
}

// Default is the embedded configuration used when no file is given:
// discovery of every service that owns a listener, no explicit checks.
func Default() *Config {
	return &Config{Discovery: Discovery{Enabled: true}}
}

// Load reads, parses and validates the file at path, which must be a
// regular file (or a symlink to one) of at most MaxFileSize bytes.
func Load(path string) (*Config, error) {
	data, err := readRegularFile(path, MaxFileSize)
	if err != nil {
		return nil, withFile(err, path)
	}
	return Parse(data, path)
}

// Parse parses and validates a config document. file names it in errors, and
// relative paths inside it are resolved against file's directory. The error
// lists every problem found, in line order (at most maxErrors of them and a
// count of the rest); a YAML syntax error or a resource limit stops at once.
func Parse(data []byte, file string) (*Config, error) {
	cfg, d, err := decodeDocument(data)
	if err != nil {
		return nil, withFile(err, file)
	}
	cfg.Source = file
	cfg.applyDefaults(filepath.Dir(file))
	cfg.validate(d)
	if err := d.errs.err(); err != nil {
		return nil, withFile(err, file)
	}
	return cfg, nil
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeDocument parses data into a Config. Decoding errors are in the
// decoder's list; the error returned is one that stopped the decoding.
func decodeDocument(data []byte) (*Config, *decoder, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		line := bytes.Count(data[:bytes.IndexByte(data, 0)], []byte("\n")) + 1
		return nil, nil, fieldErrorf("", line, ErrSyntax, "the file contains a NUL byte (is it binary?)")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, fieldErrorf("", 0, ErrMissing, "the file is empty: define checks or enable discovery")
		}
		return nil, nil, syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, nil, fieldErrorf("", extra.Line, ErrSyntax, "a second YAML document starts here; the config must be a single document")
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, syntaxError(err)
	}
	d := &decoder{lines: map[string]int{}, broken: map[string]bool{}, regexps: map[string]*regexp.Regexp{}}
	cfg := &Config{}
	if err := d.decode(&root, reflect.ValueOf(cfg).Elem(), "", 0); err != nil {
		return nil, nil, err
	}
	return cfg, d, nil
}

func syntaxError(err error) error {
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return fieldErrorf("", line, ErrSyntax, "%s", m[2])
	}
	return fieldErrorf("", 0, ErrSyntax, "%s", yamlErrorText(err))
}

// applyDefaults fills in what the document left out and puts what it gave
// in one spelling: the one place a parsed config is changed. validate only
// reports.
func (c *Config) applyDefaults(dir string) {
	for _, re := range c.Discovery.ExcludeUnits {
		if re.Regexp != nil {
			c.Discovery.excludeUnits = append(c.Discovery.excludeUnits, regexp.MustCompile("^(?:"+re.String()+")$"))
		}
	}
	for i := range c.Checks {
		ch := &c.Checks[i]
		for j := range ch.Ports {
			p := &ch.Ports[j]
			if p.Proto == "" {
				p.Proto = "tcp"
			}
			// One spelling per address, so "::ffff:127.0.0.1", "[::]" and
			// "::" compare (and label) the same way everywhere; one that
			// does not parse is left for validate to report.
			if addr, err := parseAddress(p.Address); p.Address != "" && err == nil {
				p.Address = addr.Unmap().String()
			}
		}
		for j := range ch.Probes {
			p := &ch.Probes[j]
			if p.Timeout == 0 {
				p.Timeout = DefaultProbeTimeout
			}
			if p.IPProtocol == "" {
				p.IPProtocol = "auto"
			}
			for k := range p.QueryResponse {
				p.QueryResponse[k].SendFile = commonconfig.JoinDir(dir, p.QueryResponse[k].SendFile)
			}
			if p.TLSConfig != nil {
				p.TLSConfig.CAFile = commonconfig.JoinDir(dir, p.TLSConfig.CAFile)
				p.TLSConfig.CertFile = commonconfig.JoinDir(dir, p.TLSConfig.CertFile)
				p.TLSConfig.KeyFile = commonconfig.JoinDir(dir, p.TLSConfig.KeyFile)
			}
		}
	}
}

// YAML renders the config as it is in effect (defaults filled in), with
// secrets replaced by "<secret>".
func (c *Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
