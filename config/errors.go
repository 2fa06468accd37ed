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
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Kinds of configuration error, for errors.Is.
var (
	ErrSyntax       = errors.New("invalid YAML")
	ErrUnknownField = errors.New("unknown field")
	ErrDuplicate    = errors.New("duplicate")
	ErrMissing      = errors.New("missing required field")
	ErrOutOfRange   = errors.New("out of range")
	ErrInvalid      = errors.New("invalid value")
	ErrTooLarge     = errors.New("too large")
	ErrRead         = errors.New("cannot read file")
	// ErrTooMany is the last line of a list cut at its first errors.
	ErrTooMany = errors.New("more errors")
	// ErrNotRegular is a read error: the path names a FIFO, a device, a
	// socket or a directory, which a config must never be read from.
	ErrNotRegular = fmt.Errorf("%w: not a regular file", ErrRead)
)

// FieldError is one problem in a config file, located by file, line and the
// field's path (e.g. "checks[1].ports[0].port").
type FieldError struct {
	File  string
	Line  int    // 0 when the problem has no single line (e.g. an empty file)
	Field string // "" for problems with the document as a whole
	Msg   string
	Kind  error // one of the Err* values above
	// Err is the system's error behind a read error (for errors.Is with
	// os.ErrNotExist, fs.ErrPermission), or nil.
	Err error

	// keyParent is set when Field ends in a key as the file spells it (an
	// unknown field): Summary shows this parent path instead.
	keyParent *string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	e.writeLocation(&b, e.Field)
	b.WriteString(e.Msg)
	return b.String()
}

// writeLocation writes "file[:line]: [field: ]", the start of both the
// error and its summary.
func (e *FieldError) writeLocation(b *strings.Builder, field string) {
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if field != "" {
		b.WriteString(field)
		b.WriteString(": ")
	}
}

// Unwrap makes errors.Is see the kind and, for read errors, the cause.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func fieldErrorf(field string, line int, kind error, format string, args ...any) *FieldError {
	return &FieldError{Line: line, Field: field, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// withFile stamps the file name on every FieldError inside err: err is one
// FieldError or an errors.Join of them. (A FieldError unwraps to a list
// too, its kind and cause, so it is matched first.)
func withFile(err error, file string) error {
	switch e := err.(type) {
	case *FieldError:
		e.File = file
	case interface{ Unwrap() []error }:
		for _, x := range e.Unwrap() {
			withFile(x, file)
		}
	}
	return err
}

// errorList keeps the first maxErrors errors by line and counts the rest,
// so that what a file full of mistakes costs stays bounded.
type errorList struct {
	errs []*FieldError // sorted by line, stable
	more int
}

// keeps reports whether an error at line would be kept by add.
func (l *errorList) keeps(line int) bool {
	return len(l.errs) < maxErrors || line < l.errs[maxErrors-1].Line
}

func (l *errorList) add(fe *FieldError) {
	// After the first errors of equal line: same-line errors keep the order
	// they were found in.
	i := sort.Search(len(l.errs), func(i int) bool { return l.errs[i].Line > fe.Line })
	if len(l.errs) == maxErrors {
		l.more++
		if i == maxErrors {
			return
		}
		l.errs = l.errs[:maxErrors-1]
	}
	l.errs = slices.Insert(l.errs, i, fe)
}

// err joins the errors kept, in line order, with a last line counting those
// left out; nil if there were none.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	list := make([]error, 0, len(l.errs)+1)
	for _, fe := range l.errs {
		list = append(list, fe)
	}
	if l.more > 0 {
		list = append(list, &FieldError{Kind: ErrTooMany, Msg: fmt.Sprintf("and %d more errors", l.more)})
	}
	return errors.Join(list...)
}

// Summary renders err for whoever may call /-/reload: each FieldError as
// "file:line: field: kind" ("warden.yml:7: checks[1].ports[0].port: out
// of range"). It never shows a message, because messages quote the file
// (YAML's own errors and ours name the offending text), and the config
// path may be, or link to, a file the caller must not read. For the same
// reason an unknown key is left out of the field, which is then its
// mapping's. A read error keeps its system reason ("no such file or
// directory"), which is about the path, not the content. The full error
// is for the log.
func Summary(err error) string {
	var lines []string
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*FieldError); ok {
			lines = append(lines, fe.summary())
			return
		}
		if list, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range list.Unwrap() {
				walk(e)
			}
			return
		}
		if err != nil {
			lines = append(lines, "invalid configuration")
		}
	}
	walk(err)
	return strings.Join(lines, "\n")
}

func (e *FieldError) summary() string {
	var b strings.Builder
	field := e.Field
	if e.keyParent != nil {
		field = *e.keyParent
	}
	e.writeLocation(&b, field)
	switch {
	case e.Kind == ErrTooMany:
		b.WriteString(e.Msg) // a count, ours
	case e.Kind != nil:
		b.WriteString(e.Kind.Error())
	default:
		b.WriteString("invalid configuration")
	}
	var errno syscall.Errno
	if errors.As(e.Err, &errno) {
		b.WriteString(": ")
		b.WriteString(errno.Error())
	}
	return b.String()
}
