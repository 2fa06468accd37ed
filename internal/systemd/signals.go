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

package systemd

import (
	"sync"

	"github.com/godbus/dbus/v5"
)

// signalQueue is the connection's signal handler: it queues every signal
// without ever blocking the connection's reader (a blocked reader would also
// hold back the replies the cache is waiting for).
type signalQueue struct {
	mu        sync.Mutex
	queue     []*dbus.Signal
	delivered uint64
	closed    bool
	wake      chan struct{}
	others    []chan<- *dbus.Signal
}

func newSignalQueue() *signalQueue { return &signalQueue{wake: make(chan struct{}, 1)} }

// DeliverSignal implements dbus.SignalHandler.
func (q *signalQueue) DeliverSignal(_, _ string, s *dbus.Signal) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.queue = append(q.queue, s)
	q.delivered++
	// go-systemd registers a channel of its own for job completions, which
	// we do not use; it must never hold up the connection either. Sent under
	// the lock, so Terminate cannot close it meanwhile.
	for _, ch := range q.others {
		select {
		case ch <- s:
		default:
		}
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// AddSignal and RemoveSignal implement dbus.SignalRegistrar.
func (q *signalQueue) AddSignal(ch chan<- *dbus.Signal) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.others = append(q.others, ch)
}

func (q *signalQueue) RemoveSignal(ch chan<- *dbus.Signal) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, c := range q.others {
		if c == ch {
			q.others = append(q.others[:i:i], q.others[i+1:]...)
			return
		}
	}
}

// Terminate implements dbus.Terminator: the connection is gone.
func (q *signalQueue) Terminate() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		for _, ch := range q.others {
			close(ch)
		}
		q.others = nil
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *signalQueue) take() ([]*dbus.Signal, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.queue
	q.queue = nil
	return s, q.closed
}

func (q *signalQueue) count() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.delivered
}
