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

package listeners

import (
	"context"
	"testing"
	"time"
)

type countedDumper struct{ closed *int }

func (countedDumper) Listeners(context.Context) ([]Listener, error) { return nil, nil }
func (d countedDumper) Close() error                                { *d.closed++; return nil }

// The reader keeps a namespace's socket while its checks read it and
// closes it itself (the collector used to say which to keep): one not read
// for netnsIdle is closed, and no more than maxNetns are kept.
func TestTheReaderClosesNamespaceSocketsNobodyReads(t *testing.T) {
	closed := 0
	now := time.Now()
	r := &Reader{netns: map[uint64]*netnsHandle{
		1: {dumper: countedDumper{&closed}, used: now.Add(-netnsIdle - time.Second)}, // its unit stopped
		2: {dumper: countedDumper{&closed}, used: now.Add(-time.Second)},             // read a second ago
	}}
	r.closeIdleNetnsLocked(now)
	if _, kept := r.netns[2]; closed != 1 || len(r.netns) != 1 || !kept {
		t.Fatalf("closed %d, kept %v; want the idle one closed, the one in use kept", closed, r.netns)
	}
	for id := uint64(10); len(r.netns) < maxNetns; id++ {
		r.netns[id] = &netnsHandle{dumper: countedDumper{&closed}, used: now.Add(time.Duration(id) * time.Millisecond)}
	}
	r.closeIdleNetnsLocked(now)
	if _, oldest := r.netns[2]; len(r.netns) != maxNetns-1 || oldest || closed != 2 {
		t.Errorf("at the cap: %d kept, %d closed, the least recently read kept: %v; want %d kept, it closed", len(r.netns), closed, oldest, maxNetns-1)
	}
}
