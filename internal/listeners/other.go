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

package listeners

import (
	"context"
	"fmt"
	"runtime"
)

// Netlink sock_diag is Linux's: elsewhere the netlink backend is refused
// (auto mode then reads procfs, which fails where there is no /proc/net),
// so the module and its pure packages build and test on any OS.

type netlinkDumper struct{}

func newNetlinkDumper() (*netlinkDumper, error) {
	return nil, fmt.Errorf("%w: not on %s", ErrNetlinkUnavailable, runtime.GOOS)
}

func newNetlinkDumperInNetns(int) (*netlinkDumper, error) { return newNetlinkDumper() }

func (*netlinkDumper) Listeners(context.Context) ([]Listener, error) {
	return nil, ErrNetlinkUnavailable
}

func (*netlinkDumper) Close() error { return nil }
