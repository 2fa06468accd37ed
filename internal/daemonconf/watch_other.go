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

package daemonconf

import "errors"

// watcher is Linux's inotify; elsewhere configurations are polled.
type watcher struct{}

func newWatcher() (*watcher, error) { return nil, errors.New("inotify is Linux's") }

func (w *watcher) add(string) bool                            { return false }
func (w *watcher) drain() (changed map[string]bool, all bool) { return nil, false }
func (w *watcher) close() error                               { return nil }
