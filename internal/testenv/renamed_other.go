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

//go:build !linux

package testenv

import "testing"

// RenamedListener is a process started by StartRenamedListener.
type RenamedListener struct {
	PID  int
	Addr string
}

// StartRenamedListener skips: prctl(PR_SET_NAME) and /proc are Linux's.
func StartRenamedListener(t testing.TB, name, network, addr string) RenamedListener {
	t.Helper()
	Skip(t, "renaming a process with prctl(PR_SET_NAME) needs Linux")
	return RenamedListener{}
}
