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

package daemonconf

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// mongodb reads mongod's configuration file as its options parser
// (src/mongo/util/options_parser) does: YAML (net.port, net.bindIp,
// net.bindIpAll, net.ipv6, sharding.clusterRole), or the legacy INI
// "key = value" format when the YAML's root is a plain scalar (Debian's
// old mongodb package's /etc/mongodb.conf); the command line's --port,
// --bind_ip, --bind_ip_all, --ipv6 override the file key by key.
var mongodb = Daemon{
	Name:         "mongodb",
	BindsAtStart: true,
	Units:        []string{"mongod.service", "mongodb.service"},
	Binaries:     []string{"mongod"},
	Config: func(unit string, argv []string) string {
		if len(argv) > 0 {
			// mongod reads a file only when told to (--config/-f).
			return mongodArgs(argv)["config"].val
		}
		if unit == "mongodb.service" {
			return "/etc/mongodb.conf"
		}
		return "/etc/mongod.conf"
	},
	Parse: parseMongoDB,
}

// mongoVal is one option's value and where it was set.
type mongoVal struct {
	val  string
	file string
	line int
}

// mongoKeys maps the settings that decide the listeners, by their YAML
// dotted name, to their command-line and INI name.
func mongoKeys() map[string]string {
	return map[string]string{
		"net.port": "port", "net.bindIp": "bind_ip", "net.bindIpAll": "bind_ip_all",
		"net.ipv6": "ipv6", "sharding.clusterRole": "clusterRole",
	}
}

// mongodArgs reads mongod's command line (boost program_options:
// "--name value", "--name=value", and "-name" as a disguised long name),
// the settings by their YAML name, plus "config".
func mongodArgs(argv []string) map[string]mongoVal {
	byArg := map[string]string{"config": "config", "f": "config"}
	for k, a := range mongoKeys() {
		byArg[a] = k
	}
	switches := map[string]string{"bind_ip_all": "true", "ipv6": "true", "shardsvr": "shardsvr", "configsvr": "configsvr"}
	out := map[string]mongoVal{}
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if v, ok := switches[name]; ok && !hasValue {
			key := byArg[name]
			if name == "shardsvr" || name == "configsvr" {
				key = "sharding.clusterRole"
			}
			out[key] = mongoVal{val: v, file: commandLine}
			continue
		}
		key, ok := byArg[name]
		if !ok || key == "sharding.clusterRole" {
			continue
		}
		if !hasValue {
			if i+1 >= len(argv) {
				break
			}
			i++
			value = argv[i]
		}
		out[key] = mongoVal{val: value, file: commandLine}
	}
	return out
}

func parseMongoDB(f *Files, s Spec) ([]Listen, error) {
	set := map[string]mongoVal{}
	if s.Config != "" {
		b, err := f.Read(s.Config)
		if err != nil {
			return nil, err
		}
		if set, err = mongoConfig(s.Config, b); err != nil {
			return nil, err
		}
	}
	for k, v := range mongodArgs(s.Argv) {
		if k != "config" {
			set[k] = v // the command line overrides the file
		}
	}
	// mongod's default port is 27017, 27018 for a shard and 27019 for a
	// config server (sharding.clusterRole, --shardsvr, --configsvr).
	port := mongoVal{val: "27017", file: s.Config}
	switch set["sharding.clusterRole"].val {
	case "shardsvr":
		port.val = "27018"
	case "configsvr":
		port.val = "27019"
	}
	v, portSet := set["net.port"]
	if portSet {
		port = v
	}
	p, err := parsePort(strings.TrimSpace(port.val))
	if err != nil {
		return nil, Errorf(port.file, port.line, "net.port: %w", err)
	}
	ipv6, err := mongoBool(set, "net.ipv6")
	if err != nil {
		return nil, err
	}
	all, err := mongoBool(set, "net.bindIpAll")
	if err != nil {
		return nil, err
	}
	bind, hasBind := set["net.bindIp"]
	if all && hasBind {
		a := set["net.bindIpAll"]
		return nil, Errorf(a.file, a.line, "net.bindIpAll is not allowed with net.bindIp (%s:%d)", bind.file, bind.line)
	}
	// mongod ≥ 3.6 binds localhost only unless told otherwise.
	at := port
	var addrs []string
	switch {
	case all:
		at = set["net.bindIpAll"]
		addrs = []string{any4}
	case hasBind:
		at = bind
		addrs = strings.Split(bind.val, ",")
	default:
		addrs = []string{lo4}
		if ipv6 {
			addrs = append(addrs, lo6)
		}
	}
	var out []Listen
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		var ips []string
		switch {
		case a == "" || strings.Contains(a, "/"):
			continue // a UNIX socket path, or an empty entry
		case a == "localhost":
			ips = []string{lo4, lo6}
		default:
			ip, ok := ipLiteral(a)
			if !ok {
				continue // a host name: not resolved here
			}
			ips = []string{ip}
			// 0.0.0.0 with net.ipv6 binds "::" too (transport_layer_asio).
			if ip == any4 && ipv6 {
				ips = append(ips, any6)
			}
		}
		for _, ip := range ips {
			// Without net.ipv6 mongod resolves with AF_INET: an IPv6
			// entry finds no address and is skipped with a warning.
			if !is4(ip) && !ipv6 {
				continue
			}
			// The port's line when net.port says it, the address's
			// beside; a default port: the address's line alone.
			l := Listen{Proto: "tcp", Address: ip, Port: p, File: at.file, Line: at.line}
			if portSet {
				l = Listen{Proto: "tcp", Address: ip, Port: p, File: port.file, Line: port.line}.withAddr(at.file, at.line)
			}
			out = append(out, l)
		}
	}
	return uniqueListens(out), nil
}

// mongoBool reads a boolean as mongod's stringToValue does.
func mongoBool(set map[string]mongoVal, key string) (bool, error) {
	v, ok := set[key]
	if !ok {
		return false, nil
	}
	switch strings.TrimSpace(v.val) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, Errorf(v.file, v.line, "%s: %q is not a boolean", key, v.val)
}

// mongoMaxNodes bounds the YAML nodes walked: aliases make a small file
// a large tree (a "billion laughs"); yaml.Node keeps them unexpanded and
// this bound keeps the walk linear in what a real file holds.
const mongoMaxNodes = 100000

// mongoConfig reads the file's settings by dotted name.
func mongoConfig(file string, b []byte) (map[string]mongoVal, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, Errorf(file, yamlErrorLine(err), "%w", err)
	}
	set := map[string]mongoVal{}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return set, nil // an empty file
	}
	root := doc.Content[0]
	switch root.Kind {
	case yaml.ScalarNode:
		return mongoINI(file, b)
	case yaml.MappingNode:
	default:
		return nil, Errorf(file, root.Line, "no map found at top level of YAML config")
	}
	budget := mongoMaxNodes
	return set, mongoWalk(file, root, "", set, &budget)
}

// mongoWalk records the wanted keys under n: nested maps give dotted
// names, a dotted key ("net.port: 1") is one too, and a "value" key holds
// its parent's value, as addYAMLNodesToEnvironment reads them.
func mongoWalk(file string, n *yaml.Node, parent string, set map[string]mongoVal, budget *int) error {
	for n.Kind == yaml.AliasNode && n.Alias != nil && *budget > 0 {
		*budget--
		n = n.Alias
	}
	if *budget--; *budget < 0 {
		return Errorf(file, n.Line, "more than %d YAML nodes (aliases?)", mongoMaxNodes)
	}
	keys := mongoKeys()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		switch {
		case parent == "":
		case name == "value":
			name = parent
		default:
			name = parent + "." + name
		}
		for v.Kind == yaml.AliasNode && v.Alias != nil && *budget > 0 {
			*budget--
			v = v.Alias
		}
		if v.Kind == yaml.MappingNode {
			if err := mongoWalk(file, v, name, set, budget); err != nil {
				return err
			}
			continue
		}
		if _, wanted := keys[name]; !wanted {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return Errorf(file, v.Line, "scalar option %q must be a single value", name)
		}
		if prev, dup := set[name]; dup {
			return Errorf(file, k.Line, "duplicate key %s (first at line %d)", name, prev.line)
		}
		set[name] = mongoVal{val: v.Value, file: file, line: k.Line}
	}
	return nil
}

// mongoINI reads the legacy format: "name = value" lines, '#' comments,
// by the command line's names.
func mongoINI(file string, b []byte) (map[string]mongoVal, error) {
	byArg := map[string]string{}
	for k, a := range mongoKeys() {
		byArg[a] = k
	}
	set := map[string]mongoVal{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch name {
		case "shardsvr", "configsvr":
			if value == "true" {
				set["sharding.clusterRole"] = mongoVal{val: name, file: file, line: i + 1}
			}
			continue
		}
		if key, ok := byArg[name]; ok && key != "sharding.clusterRole" {
			set[key] = mongoVal{val: value, file: file, line: i + 1}
		}
	}
	return set, nil
}

// yamlErrorLine is the line a yaml.v3 error names ("yaml: line 3: ..."),
// 0 when it names none.
func yamlErrorLine(err error) int {
	_, rest, ok := strings.Cut(err.Error(), "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}
