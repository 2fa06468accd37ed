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
	"slices"
	"sync/atomic"
	"testing"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
)

// A view is current for a unit once the unit's properties are read after
// its last signal: not while only a listing or a signal named it (its
// ControlGroup is still to come), not for a unit it watches but does not
// hold; a unit it does not watch is current (it is never held).
func TestViewsSayWhichUnitsTheyAreBehindOn(t *testing.T) {
	client := New(Options{Include: anchored(`.*\.service`)})
	cache := newUnitCache(nil, nil, nil, client.watched, nil, time.Second, time.Minute)
	cache.applyListing(fetchResult{listed: []sdbus.UnitStatus{
		{Name: "web.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
	}})
	view := &Snapshot{snap: cache.snap()}
	if _, ok := view.Unit("web.service"); !ok || view.Current("web.service") {
		t.Errorf("listed, its properties not read: held %v, current %v; want held and not current", ok, view.Current("web.service"))
	}
	if view.Current("new.service") {
		t.Error("a watched unit the view does not hold is current")
	}
	if !view.Current("new.socket") {
		t.Error("a unit the view does not watch is not current")
	}

	// The fetch the listing asked for comes back with the ControlGroup
	// (as dispatch would start it, without a bus to ask).
	e := cache.units["web.service"]
	if e == nil || e.fetch != fetchQueued {
		t.Fatalf("the listing asked for no fetch of web.service: %+v", e)
	}
	e.fetch, cache.queue = fetchRunning, nil
	cache.running++
	fetched := Unit{Name: "web.service", LoadState: "loaded", ActiveState: "active", SubState: "running", ControlGroup: "/system.slice/web.service"}
	if err := cache.finish(fetchResult{name: "web.service", entry: e, trigSeq: e.countedSeq, unit: fetched}); err != nil {
		t.Fatal(err)
	}
	view = &Snapshot{snap: cache.snap()}
	if u, _ := view.Unit("web.service"); !view.Current("web.service") || u.ControlGroup == "" {
		t.Errorf("fetched: current %v, ControlGroup %q; want current with one", view.Current("web.service"), u.ControlGroup)
	}
}

// A change answered to a scrape's barrier in the loop iteration it was
// applied in reaches the watch too: the view Cached gives is the one the
// barrier got. Before, the watch kept the view before the change until
// the next one.
func TestTheWatchGetsTheViewABarrierGot(t *testing.T) {
	client := New(Options{Include: anchored(`.*\.service`)})
	cache := newUnitCache(nil, nil, nil, client.watched, nil, time.Second, time.Minute)
	var publish atomic.Bool
	publish.Store(true)
	cache.publish = &publish
	cache.applyListing(fetchResult{listed: []sdbus.UnitStatus{
		{Name: "web.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
	}})
	cache.queue, cache.outstanding = nil, map[uint64]int{} // no bus: no fetch
	cache.publishChange()
	before := cache.latest.Load()
	if before == nil {
		t.Fatal("the premise: the listing's view is published")
	}

	// A unit stops; a scrape waits on a barrier; the loop iteration that
	// applies the change answers it, then publishes.
	cache.units["web.service"].ActiveState, cache.dirty = "inactive", true
	reply := make(chan *cacheView, 1)
	cache.waiting = append(cache.waiting, barrierRequest{seq: cache.processed, reply: reply})
	cache.answerBarriers()
	cache.publishChange()
	got := <-reply
	if u := got.units["web.service"]; u.ActiveState != "inactive" {
		t.Fatalf("the barrier's view: %s, want inactive", u.ActiveState)
	}
	if latest := cache.latest.Load(); latest != got {
		t.Errorf("the watch's view is not the barrier's: web.service %s in it (the view before the change: %v)", latest.units["web.service"].ActiveState, latest == before)
	}
}

// A view's socket units are its units named *.socket, sorted, found once.
func TestViewsListTheirSocketUnits(t *testing.T) {
	view := SnapshotOf(Unit{Name: "b.socket"}, Unit{Name: "web.service"}, Unit{Name: "a.socket"}, Unit{Name: "socket.target"}, Unit{Name: "x.socket.service"})
	got := view.SocketUnits()
	if want := []string{"a.socket", "b.socket"}; !slices.Equal(got, want) {
		t.Errorf("SocketUnits = %v, want %v", got, want)
	}
	if again := view.SocketUnits(); len(again) == 0 || &again[0] != &got[0] {
		t.Error("the list was made again for the same view")
	}
}
