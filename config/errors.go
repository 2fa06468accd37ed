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
	"strings"
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
	ErrRead         = errors.New("cannot read config file")
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
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
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
