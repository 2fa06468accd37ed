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
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher says which watched directories changed, by inotify: drained
// without blocking at each evaluation (one read(2), ~1 µs, when nothing
// changed), so a configuration is parsed again only after a change and no
// goroutine or lifetime is needed. A directory, not a file, is watched:
// editors replace a file by renaming a new one over it, which a watch on
// the file itself would not follow.
type watcher struct {
	fd   int
	wds  map[int]string // watch descriptor -> directory
	dirs map[string]int // directory -> watch descriptor
}

// watchEvents are the changes that can change what a file in the
// directory says: written, replaced, created, removed, renamed, its mode
// or owner changed (a file now readable), or the directory itself gone.
const watchEvents = unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE |
	unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// maxWatches caps the directories watched: Debian's nine daemons watch 14
// between them. Past it (or past the kernel's fs.inotify.max_user_watches,
// shared with every process of the user) a configuration is polled.
const maxWatches = 512

func newWatcher() (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	return &watcher{fd: fd, wds: map[int]string{}, dirs: map[string]int{}}, nil
}

// add watches dir (a host path); false when it cannot be watched.
func (w *watcher) add(dir string) bool {
	if _, ok := w.dirs[dir]; ok {
		return true
	}
	if len(w.dirs) >= maxWatches {
		return false
	}
	wd, err := unix.InotifyAddWatch(w.fd, dir, watchEvents)
	if err != nil {
		return false
	}
	w.wds[wd] = dir
	w.dirs[dir] = wd
	return true
}

// drain returns the directories that changed since the last drain; all is
// set when the kernel's queue overflowed (events were lost).
func (w *watcher) drain() (changed map[string]bool, all bool) {
	var buf [4096]byte
	for {
		n, err := unix.Read(w.fd, buf[:])
		if err != nil || n <= 0 {
			if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
				all = true
			}
			return changed, all
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				all = true
				continue
			}
			dir, ok := w.wds[int(ev.Wd)]
			if !ok {
				continue
			}
			if changed == nil {
				changed = map[string]bool{}
			}
			changed[dir] = true
			if ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
				// The directory is gone or moved: its watch is dropped,
				// so the next read watches what is there then.
				delete(w.wds, int(ev.Wd))
				delete(w.dirs, dir)
			}
		}
	}
}

func (w *watcher) close() error {
	return unix.Close(w.fd)
}
