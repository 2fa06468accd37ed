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
	"syscall"
	"time"
)

// changed is when a file last changed: the later of its mtime and its
// ctime. The ctime is the kernel's to set: a file put back with its old
// mtime (cp -p, tar, rsync -t restore last week's) still changed now,
// and a daemon started before that did not read it.
func changed(st os.FileInfo) time.Time {
	t := st.ModTime()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(int64(sys.Ctim.Sec), int64(sys.Ctim.Nsec)); c.After(t) {
			t = c
		}
	}
	return t
}
