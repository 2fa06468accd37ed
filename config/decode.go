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

package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work one document may cause. Aliases let a small file
// expand exponentially ("billion laughs"), and what the decoder builds for
// every node it visits (a field, its path and line) costs memory: counting
// every node we visit, including through aliases, keeps a hostile file
// cheap to reject. A file within MaxFileSize without aliases visits at most
// ~65,000 (one per two bytes).
const maxNodes = 100_000

// maxDepth bounds nesting. The schema is at most a handful of levels deep, so
// anything deeper is a mistake (or an attack on the stack).
const maxDepth = 32

// maxErrors bounds the errors reported for one file: enough to fix a
// file in one go, while a file full of mistakes neither floods the output
// nor keeps an error per node in memory.
const maxErrors = 20

// decoder walks a yaml.Node tree into Go structs by their `yaml` tags. We do it
// ourselves rather than with yaml's Decode because we need, for every field,
// the path ("checks[1].ports[0].port") and the line it came from, so that
// every error an operator sees points at the exact spot in the file; yaml's
// KnownFields errors name neither the path nor, for validation done later,
// the line.
//
// A wrong key or value does not stop the walk: it is recorded, the field
// keeps its zero value, and the walk goes on with the next one, so that all
// of a file's problems are reported at once. Only the node limit stops it.
type decoder struct {
	lines map[string]int // field path -> line of its key (or sequence item)
	nodes int
	errs  errorList
	// regexps are the expect patterns compiled so far, by source: an
	// identical pattern (written twice, or reached through an alias) is
	// compiled once, and only distinct ones count against the budget.
	regexps    map[string]*regexp.Regexp
	regexpCost int64
	// broken holds what did not decode: the "checks[i]" whose subtree
	// had an error, or the whole path of an error outside any check.
	// Validation skips them: their zero values are no problems of their own.
	broken map[string]bool
}

// failf records a decoding error and carries on. The error is only built
// if it is kept (see errorList): past the first errors, a file full of
// mistakes costs a count per node, not a message. It returns the error, or
// nil if it was only counted.
func (d *decoder) failf(path string, line int, kind error, format string, args ...any) *FieldError {
	p := path
	if rest, ok := strings.CutPrefix(p, "checks["); ok {
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			p = p[:len("checks[")+i+1]
		}
	}
	d.broken[p] = true
	if !d.errs.keeps(line) {
		d.errs.more++
		return nil
	}
	fe := fieldErrorf(path, line, kind, format, args...)
	d.errs.add(fe)
	return fe
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) error {
	d.nodes++
	if d.nodes > maxNodes {
		// The document's budget is spent: stop the walk.
		return fieldErrorf(path, n.Line, ErrTooLarge, "document expands to more than %d nodes", maxNodes)
	}
	if depth > maxDepth {
		d.failf(path, n.Line, ErrTooLarge, "nesting deeper than %d levels", maxDepth)
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return d.decode(n.Content[0], v, path, depth)
	case yaml.AliasNode:
		return d.decode(n.Alias, v, path, depth+1)
	}
	if isNull(n) {
		// An explicit null (or "key:" with nothing after it) leaves the zero
		// value, which the defaults and validation then handle.
		return nil
	}

	if v.Type() == regexpType {
		d.decodeRegexp(n, v.Addr().Interface().(*Regexp), path)
		return nil
	}
	// Types that know how to read themselves (durations, TLS versions, secrets).
	if v.CanAddr() {
		p := v.Addr().Interface()
		_, v3 := p.(yaml.Unmarshaler)
		_, v2 := p.(interface{ UnmarshalYAML(func(any) error) error })
		if v3 || v2 {
			if n.Kind != yaml.ScalarNode {
				d.failf(path, n.Line, ErrInvalid, "expected a single value, got %s", nodeKind{n})
				return nil
			}
			if err := n.Decode(p); err != nil {
				d.failf(path, n.Line, ErrInvalid, "%s", strings.TrimPrefix(yamlErrorText(err), "yaml: "))
			}
			return nil
		}
	}

	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path, depth)
	case reflect.Struct:
		return d.decodeStruct(n, v, path, depth)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.failf(path, n.Line, ErrInvalid, "expected a list, got %s", nodeKind{n})
			return nil
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			itemPath := fmt.Sprintf("%s[%d]", path, i)
			d.lines[itemPath] = item.Line
			if err := d.decode(item, s.Index(i), itemPath, depth+1); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	}

	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, ErrInvalid, "expected a single value, got %s", nodeKind{n})
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		if strings.ContainsRune(n.Value, 0) {
			d.failf(path, n.Line, ErrInvalid, "contains a NUL byte")
			return nil
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if err != nil || n.Tag != "!!bool" {
			d.failf(path, n.Line, ErrInvalid, "%q is not a boolean (true or false)", n.Value)
			return nil
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || n.Tag != "!!int" {
			d.failf(path, n.Line, ErrInvalid, "%q is not an integer", n.Value)
			return nil
		}
		if v.Kind() == reflect.Int && (i > math.MaxInt || i < math.MinInt) {
			d.failf(path, n.Line, ErrOutOfRange, "%s is out of range", n.Value)
			return nil
		}
		v.SetInt(i)
	default:
		// Programming error: the schema uses a type this decoder does not know.
		d.failf(path, n.Line, ErrInvalid, "unsupported field type %s", v.Type())
	}
	return nil
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, depth int) error {
	if n.Kind != yaml.MappingNode {
		d.failf(path, n.Line, ErrInvalid, "expected a mapping of fields, got %s", nodeKind{n})
		return nil
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyNode, valueNode := n.Content[i], n.Content[i+1]
		if keyNode.Kind == yaml.AliasNode {
			keyNode = keyNode.Alias
		}
		key := keyNode.Value
		fieldPath := joinPath(path, key)
		if keyNode.Kind != yaml.ScalarNode || keyNode.Value == "<<" {
			d.failf(path, keyNode.Line, ErrInvalid, "unsupported key %s (merge keys and complex keys are not allowed)", nodeKind{keyNode})
			continue
		}
		index, ok := fields[key]
		if !ok {
			if fe := d.failf(fieldPath, keyNode.Line, ErrUnknownField, "unknown field; valid fields here are: %s", fieldNames(fields)); fe != nil {
				fe.keyParent = &path
			}
			continue
		}
		if first, dup := seen[key]; dup {
			d.failf(fieldPath, keyNode.Line, ErrDuplicate, "set twice (first at line %d)", first)
			continue
		}
		seen[key] = keyNode.Line
		d.lines[fieldPath] = keyNode.Line
		if err := d.decode(valueNode, v.Field(index), fieldPath, depth+1); err != nil {
			return err
		}
	}
	return nil
}

var regexpType = reflect.TypeFor[Regexp]()

// decodeRegexp compiles an expect pattern, within the limits of one
// pattern and of all the distinct patterns of the file.
func (d *decoder) decodeRegexp(n *yaml.Node, r *Regexp, path string) {
	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, ErrInvalid, "a regular expression must be a string, got %s", nodeKind{n})
		return
	}
	if re, ok := d.regexps[n.Value]; ok {
		r.Regexp = re
		return
	}
	re, cost, err := compileRegexp(n.Value)
	switch {
	case err != nil:
		d.failf(path, n.Line, ErrInvalid, "%v", err)
	case d.regexpCost+cost > maxRegexpBudget:
		d.failf(path, n.Line, ErrTooLarge, "the file's expect patterns compile to more than %s in all (identical patterns are compiled once)", byteSize(maxRegexpBudget))
	default:
		d.regexpCost += cost
		d.regexps[n.Value] = re
		r.Regexp = re
	}
}

// yamlFields maps the yaml key of each exported field to its index.
func yamlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = i
	}
	return fields
}

// fieldNames lists a struct's yaml keys in order, when formatted (only if
// the error is kept).
type fieldNames map[string]int

func (m fieldNames) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// nodeKind says what a node is ("a list", "the value \"x\""), when
// formatted (only if the error is kept).
type nodeKind struct{ n *yaml.Node }

func (k nodeKind) String() string {
	n := k.n
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

// yamlErrorText flattens yaml's multi-line "unmarshal errors" into one line.
func yamlErrorText(err error) string {
	if te, ok := err.(*yaml.TypeError); ok {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}
