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

// Package daemonconf reads what a service's own configuration says it
// listens on: nginx's listen, Apache's Listen, HAProxy's bind, Redis's
// port, PostgreSQL's port and listen_addresses, MariaDB's port, OpenSSH's
// Port, MongoDB's net.port, memcached's -p. Each daemon has a parser that
// follows its format's rules (includes, defaults, what turns TCP off) and
// reads every file through Files, which bounds what one read may cost.
package daemonconf

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds of one daemon's configuration read. Real ones are small: Debian's
// nginx reads 7 files, 6 KiB; PostgreSQL's postgresql.conf is 29 KiB, the
// largest default we ship a parser for. A file or a tree past these is an
// error the check reports, never a hang or a heap.
const (
	MaxFileSize  = 1 << 20 // bytes of one file
	MaxFiles     = 256     // files one configuration may read
	MaxTotalSize = 8 << 20 // bytes of all its files together
	MaxDepth     = 16      // nested includes
)

// Listen is one socket a daemon's configuration asks for.
type Listen struct {
	Proto string // "tcp" or "udp"
	// Address is the local address, an IP literal ("0.0.0.0", "::",
	// "127.0.0.1"); "" for any.
	Address string
	Port    int
	// File and Line are where the configuration says it; Line 0 for the
	// daemon's built-in default (File is then the main file, or "" when
	// there is none).
	File string
	Line int
	// AddrFile and AddrLine are where the address is said, when another
	// directive than the port's says it (PostgreSQL's listen_addresses
	// beside its port, sshd's ListenAddress beside Port): a socket that
	// cannot bind may be either's doing. Empty and 0 otherwise.
	AddrFile string
	AddrLine int
}

// Where is "file:line", "file (default)" for a built-in default, and
// with a separate address directive "file:64 (port), :60 (address)"
// (the address's file named when it is another).
func (l Listen) Where() string {
	var w string
	switch {
	case l.Line != 0:
		w = l.File + ":" + strconv.Itoa(l.Line)
	case l.File == "":
		w = "default"
	default:
		w = l.File + " (default)"
	}
	if l.AddrLine == 0 || l.AddrFile == l.File && l.AddrLine == l.Line {
		return w
	}
	if l.AddrFile == l.File {
		return w + " (port), :" + strconv.Itoa(l.AddrLine) + " (address)"
	}
	return w + " (port), " + l.AddrFile + ":" + strconv.Itoa(l.AddrLine) + " (address)"
}

// socket is what makes two Listens one socket, wherever they say so.
type socket struct {
	proto, address string
	port           int
}

func (l Listen) socket() socket { return socket{l.Proto, l.Address, l.Port} }

// listenSet collects sockets in order, one of each: several server blocks,
// sections or options asking for one socket are one (the daemon's second
// bind of it would fail), which the first directive that asks for it names.
type listenSet struct {
	list []Listen
	seen map[socket]bool
}

func (s *listenSet) add(l Listen) {
	if s.seen[l.socket()] {
		return
	}
	if s.seen == nil {
		s.seen = map[socket]bool{}
	}
	s.seen[l.socket()] = true
	s.list = append(s.list, l)
}

// uniqueListens is ls, each socket once (the first that asks for it).
func uniqueListens(ls []Listen) []Listen {
	var s listenSet
	for _, l := range ls {
		s.add(l)
	}
	return s.list
}

// withAddr is l with its address's position, when it is another.
func (l Listen) withAddr(file string, line int) Listen {
	if line != 0 && (file != l.File || line != l.Line) {
		l.AddrFile, l.AddrLine = file, line
	}
	return l
}

// Files reads one daemon's configuration files within the bounds above and
// remembers which it read: the reader watches them, and their digest says
// whether the configuration changed. Paths are absolute host paths; Root,
// when set, is prefixed to every one of them (tests read fixture trees).
type Files struct {
	Root string

	read          []string // host paths read, in order
	unread        []string // host paths that could not be read (a mode, a FIFO, a size)
	dirs          []string // directories whose entries were listed or globbed
	total         int64
	stack         []string // the include chain being parsed
	digest        hash.Hash
	newest        time.Time // the newest modification time of what was read
	newestChanged time.Time // the newest of its modification and change (ctime) times
}

// ErrLimit wraps every error that is a bound reached.
var ErrLimit = errors.New("limit reached")

// host is path below Root.
func (f *Files) host(path string) string { return below(f.Root, path) }

// below is path below root: cleaned as an absolute path first, so "/../x"
// stays below it (a fixture root in tests, or a fuzzer's).
func below(root, path string) string { return filepath.Join(root, filepath.Clean("/"+path)) }

// Read returns a regular file's content. A FIFO, a device or a directory
// is refused without blocking (opened O_NONBLOCK), a file larger than
// MaxFileSize or past MaxFiles/MaxTotalSize is an ErrLimit. A file that
// could not be read is watched as one read: its fix is a change.
func (f *Files) Read(path string) (_ []byte, err error) {
	if len(f.read) >= MaxFiles {
		return nil, fmt.Errorf("%s: more than %d files in one configuration: %w", path, MaxFiles, ErrLimit)
	}
	defer func() {
		if err != nil {
			f.unread = append(f.unread, path)
		}
	}()
	fd, err := unix.Open(f.host(path), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: syscall.Errno(err.(unix.Errno))}
	}
	file := os.NewFile(uintptr(fd), path)
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, st.Mode().Type())
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than %d: %w", path, st.Size(), MaxFileSize, ErrLimit)
	}
	b, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, MaxFileSize, ErrLimit)
	}
	if f.total += int64(len(b)); f.total > MaxTotalSize {
		return nil, fmt.Errorf("%s: the configuration's files hold more than %d bytes: %w", path, MaxTotalSize, ErrLimit)
	}
	f.read = append(f.read, path)
	if f.digest == nil {
		f.digest = sha256.New()
	}
	fmt.Fprintf(f.digest, "%s\x00%d\x00", path, len(b))
	f.digest.Write(b)
	if t := st.ModTime(); t.After(f.newest) {
		f.newest = t
	}
	if t := changed(st); t.After(f.newestChanged) {
		f.newestChanged = t
	}
	return b, nil
}

// Include parses path, one level of includes deeper: parse gets its
// content. An include of a file already being parsed (a loop) or nesting
// past MaxDepth is an error naming the chain.
func (f *Files) Include(path string, parse func(content []byte) error) error {
	if slices.Contains(f.stack, path) {
		return fmt.Errorf("include loop: %s -> %s", joinChain(f.stack), path)
	}
	if len(f.stack) >= MaxDepth {
		return fmt.Errorf("%s: includes nested deeper than %d (%s): %w", path, MaxDepth, joinChain(f.stack), ErrLimit)
	}
	b, err := f.Read(path)
	if err != nil {
		return err
	}
	f.stack = append(f.stack, path)
	defer func() { f.stack = f.stack[:len(f.stack)-1] }()
	return parse(b)
}

func joinChain(s []string) string {
	out := ""
	for i, p := range s {
		if i > 0 {
			out += " -> "
		}
		out += p
	}
	return out
}

// Glob returns the host paths matching pattern (filepath.Match syntax, an
// absolute host path), sorted; relative patterns are taken relative to
// base's directory. The directories it looked in are watched: a file added
// there changes the configuration.
func (f *Files) Glob(pattern string) ([]string, error) {
	matches, err := filepath.Glob(f.host(pattern))
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", pattern, err)
	}
	f.noteDir(filepath.Dir(pattern))
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		rel, err := filepath.Rel(f.host("/"), m)
		if err != nil {
			continue
		}
		out = append(out, "/"+filepath.ToSlash(rel))
	}
	sort.Strings(out)
	if len(out) > MaxFiles {
		return nil, fmt.Errorf("glob %s: %d matches, more than %d: %w", pattern, len(out), MaxFiles, ErrLimit)
	}
	return out, nil
}

// Dir returns the regular files of directory dir whose names end in
// suffix ("" for all), sorted by name, as host paths; a missing directory
// is empty. The directory is watched.
func (f *Files) Dir(dir, suffix string) ([]string, error) {
	f.noteDir(dir)
	entries, err := os.ReadDir(f.host(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if len(name) < len(suffix) || name[len(name)-len(suffix):] != suffix || name[0] == '.' {
			continue
		}
		if st, err := os.Stat(f.host(filepath.Join(dir, name))); err != nil || !st.Mode().IsRegular() {
			continue
		}
		out = append(out, filepath.Join(dir, name))
		if len(out) > MaxFiles {
			return nil, fmt.Errorf("%s: more than %d files: %w", dir, MaxFiles, ErrLimit)
		}
	}
	return out, nil
}

// Exists reports whether path exists (an optional file: its absence is
// the default).
func (f *Files) Exists(path string) bool {
	f.noteDir(filepath.Dir(path))
	_, err := os.Stat(f.host(path))
	return err == nil
}

func (f *Files) noteDir(dir string) {
	if !slices.Contains(f.dirs, dir) {
		f.dirs = append(f.dirs, dir)
	}
}

// Read are the files read, in order.
func (f *Files) ReadFiles() []string { return slices.Clone(f.read) }

// Digest is the SHA-256 of every file read (its path, length and bytes),
// in order: equal digests, equal configurations.
func (f *Files) Digest() [32]byte {
	var d [32]byte
	if f.digest != nil {
		copy(d[:], f.digest.Sum(nil))
	}
	return d
}

// Newest is the newest modification time of the files read.
func (f *Files) Newest() time.Time { return f.newest }

// NewestChanged is the newest of their modification and change times.
func (f *Files) NewestChanged() time.Time { return f.newestChanged }

// Watched are the directories to watch: those of the files read or that
// could not be (and of their targets, when a file is a symbolic link:
// editing sites-available/default changes sites-enabled/default) and those
// listed.
func (f *Files) Watched() []string {
	dirs := slices.Clone(f.dirs)
	add := func(d string) {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, p := range slices.Concat(f.read, f.unread) {
		add(filepath.Dir(p))
		if real, err := filepath.EvalSymlinks(f.host(p)); err == nil {
			if rel, err := filepath.Rel(f.host("/"), real); err == nil {
				add(filepath.Dir("/" + rel))
			}
		}
	}
	sort.Strings(dirs)
	return dirs
}

// LineError is a parse error at a file's line.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Errorf returns a LineError.
func Errorf(file string, line int, format string, args ...any) error {
	return &LineError{File: file, Line: line, Err: fmt.Errorf(format, args...)}
}
