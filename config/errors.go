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
)

// FieldError is one problem in a config file, located by file, line and the
// field's path (e.g. "checks[1].ports[0].port").
type FieldError struct {
	File  string
	Line  int    // 0 when the problem has no single line (e.g. an empty file)
	Field string // "" for problems with the document as a whole
	Msg   string
	Kind  error // one of the Err* values above
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

func (e *FieldError) Unwrap() error { return e.Kind }

func fieldErrorf(field string, line int, kind error, format string, args ...any) *FieldError {
	return &FieldError{Line: line, Field: field, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// withFile stamps the file name on every FieldError inside err.
func withFile(err error, file string) error {
	var list interface{ Unwrap() []error }
	if errors.As(err, &list) {
		for _, e := range list.Unwrap() {
			withFile(e, file)
		}
		return err
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		fe.File = file
	}
	return err
}
