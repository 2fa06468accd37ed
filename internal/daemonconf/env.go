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
	"os"
	"strings"

	"github.com/warden-exporter/warden_exporter/internal/systemd"
)

// Argv returns the command line a unit runs, its $VARIABLES expanded as
// systemd expands them at start (systemd.service(5), "Command lines"): from
// Environment= and EnvironmentFile= (later wins), a whole-word $VAR split
// at whitespace into words (an empty one dropped), ${VAR} kept as one word.
// Debian's units need it: haproxy runs "-f $CONFIG", sshd "$SSHD_OPTS".
// The environment files are read through files (bounded); one that cannot
// be read leaves its variables unset, as a missing optional one does.
func Argv(files *Files, e systemd.Exec) []string {
	env := map[string]string{}
	for _, kv := range e.Environment {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, ef := range e.EnvironmentFiles {
		b, err := files.Read(ef.Path)
		if err != nil {
			continue // systemd would refuse to start a unit whose required file is missing: it started, so it was there
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			line = strings.TrimPrefix(line, "export ")
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			env[strings.TrimSpace(k)] = unquoteEnv(strings.TrimSpace(v))
		}
	}
	var out []string
	for _, a := range e.Argv {
		if name, whole := wholeVar(a); whole {
			out = append(out, strings.Fields(env[name])...)
			continue
		}
		out = append(out, os.Expand(a, func(k string) string { return env[k] }))
	}
	return out
}

// wholeVar reports whether a is exactly "$NAME" (split into words by
// systemd), and its name.
func wholeVar(a string) (string, bool) {
	if len(a) < 2 || a[0] != '$' || a[1] == '{' {
		return "", false
	}
	for _, r := range a[1:] {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "", false
		}
	}
	return a[1:], true
}

// unquoteEnv strips one pair of matching quotes, as EnvironmentFile= does.
func unquoteEnv(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
