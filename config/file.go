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
	"io"
	"io/fs"
	"os"
	"syscall"
)

// readRegularFile reads the regular file at path, at most limit bytes. Its
// errors are FieldErrors without a file, line or field, whose message
// reads after the path ("is a directory, not a regular file"): the caller
// knows which file the path came from and stamps that.
func readRegularFile(path string, limit int64) ([]byte, error) {
	f, err := openRegularFile(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may grow between fstat and the read: one byte past the
	// limit tells, without reading the rest.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &FieldError{Kind: ErrRead, Msg: "cannot be read: " + causeText(err), Err: err}
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(limit)
	}
	return data, nil
}

// checkRegularFile is readRegularFile without the read, for files that a
// library reads itself (tls_config's): what it will read is a regular
// file of at most limit bytes.
func checkRegularFile(path string, limit int64) error {
	f, err := openRegularFile(path, limit)
	if err != nil {
		return err
	}
	return f.Close()
}

// openRegularFile opens path if it is a regular file of at most limit
// bytes, symlinks followed.
//
// The open is non-blocking: opening a FIFO for reading otherwise waits for a
// writer, forever if none comes, and the start-up, the SIGHUP reload or the
// --config.check that opened it would hang with it (the signal loop that
// handles SIGTERM too). O_NOCTTY keeps a terminal device from becoming the
// controlling terminal. The type is then checked with fstat on the opened
// descriptor, not stat on the path, which could be swapped in between:
// never a FIFO, a device such as /dev/zero, a socket or a directory.
// O_NONBLOCK changes nothing for the read of a regular file.
func openRegularFile(path string, limit int64) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, &FieldError{Kind: ErrRead, Msg: "cannot be opened: " + causeText(err), Err: err}
	}
	st, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, &FieldError{Kind: ErrRead, Msg: "cannot be examined: " + causeText(err), Err: err}
	case !st.Mode().IsRegular():
		f.Close()
		return nil, &FieldError{Kind: ErrNotRegular, Msg: fmt.Sprintf("is %s, not a regular file", fileType(st.Mode()))}
	case st.Size() > limit:
		f.Close()
		return nil, tooLarge(limit)
	}
	return f, nil
}

func tooLarge(limit int64) *FieldError {
	return &FieldError{Kind: ErrTooLarge, Msg: fmt.Sprintf("is larger than the limit of %s", byteSize(limit))}
}

// byteSize spells a limit the way docs/configuration.md does: "128 KiB".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// causeText is the system's reason without the path, which the FieldError
// already carries: "no such file or directory".
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file (" + m.Type().String() + ")"
}
