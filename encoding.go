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

package main

import (
	"bytes"
	"hash/crc32"
	"net/http"
	"slices"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/flate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// textEncoder writes a scrape in the text format, the one Prometheus asks
// for unless native histograms are on, reusing the bytes of the series
// that did not change since the last scrape. The bulk units' series (with
// --systemd.unit-series=full, 14,000 of them for 2,000 units) are the
// same *dto.Metric values from one scrape to the next until the unit cache
// changes (collector's unitFamilies): encoding and compressing them again
// was 90% of a full scrape's CPU (16-26 ms of text and gzip for a 1.2 MB
// body on the 2-core VM, bench/scrape.sh). A family whose leading series
// are the very values it had in the last scrape gets them from a run
// encoded (and compressed) once, and only the rest is encoded again.
//
// Identity is what makes a run safe to reuse: a run holds the *dto.Metric
// values it was encoded from, so none of them is freed, and a series built
// anew, even with the same labels and value, is a new pointer that cannot
// equal one of them. Families are never modified once gathered (the
// collector's are shared between evaluations). So a run is served only for
// the very series it encodes, never for data that changed since.
//
// The response is the one promhttp gives (its headers, its bytes once
// decompressed); only the gzip stream differs: one member whose parts were
// compressed apart. Anything else (protobuf, a name[] filter, a gathering
// or encoding error) is promhttp's to answer.
type textEncoder struct {
	negotiated negotiations

	mu      sync.Mutex
	formats map[expfmt.Format]*formatRuns
	// pending is a gzip response's text not yet compressed, kept from one
	// response to the next: growing it anew was a tenth of a compact
	// scrape's encoding.
	pending bytes.Buffer
	// lastSize is the last response's body: the next one is sized for it
	// at once.
	lastSize int
}

// minRun is the fewest series worth a run of their own: each run is a
// part of the gzip stream (a 5-byte flush) and a CRC to combine.
const minRun = 64

func newTextEncoder() *textEncoder {
	return &textEncoder{formats: map[expfmt.Format]*formatRuns{}}
}

// encode returns the response to r for the families gatherer gathers, or
// false when the response is promhttp's to give.
func (e *textEncoder) encode(r *http.Request, gatherer prometheus.Gatherer) (*recorder, bool) {
	if r.URL.RawQuery != "" && len(r.URL.Query()["name[]"]) > 0 {
		return nil, false
	}
	header, ok := e.negotiated.of(r)
	if !ok {
		return nil, false
	}
	mfs, err := gatherer.Gather()
	if err != nil {
		return nil, false // promhttp logs and counts it
	}
	rec := &recorder{header: header.Clone(), status: http.StatusOK}
	format := expfmt.Format(header.Get("Content-Type"))
	if err := e.write(&rec.body, format, header.Get("Content-Encoding") == "gzip", mfs); err != nil {
		return nil, false
	}
	return rec, true
}

// write writes mfs to w in format, gzip-compressed or not.
func (e *textEncoder) write(w *bytes.Buffer, format expfmt.Format, gzipped bool, mfs []*dto.MetricFamily) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	runs := e.formats[format]
	if runs == nil {
		// A handful of formats exist (text 0.0.4 and 1.0.0, by escaping
		// scheme); a scraper asks for one.
		if len(e.formats) >= 8 {
			clear(e.formats)
		}
		runs = &formatRuns{byName: map[string]*familyRuns{}, scheme: format.ToEscapingScheme()}
		e.formats[format] = runs
	}
	runs.generation++
	w.Grow(e.lastSize)
	defer func() { e.lastSize = w.Len() }()
	var out bodyWriter = &plainBody{w: w}
	if gzipped {
		e.pending.Reset()
		out = newGzipBody(w, &e.pending)
	}
	for _, mf := range mfs {
		run, rest := runs.split(mf)
		if run != nil {
			out.run(run)
		}
		if len(rest) == 0 {
			continue
		}
		part := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit, Metric: rest}
		if run != nil {
			part.Help = nil // the run wrote the family's comments
		}
		fresh := out.fresh()
		start := fresh.Len()
		if _, err := expfmt.MetricFamilyToText(fresh, model.EscapeMetricFamily(part, runs.scheme)); err != nil {
			return err
		}
		if run != nil {
			// Without its HELP, the part begins with the family's TYPE
			// line, which the run wrote.
			b := fresh.Bytes()[start:]
			nl := bytes.IndexByte(b, '\n')
			copy(b, b[nl+1:])
			fresh.Truncate(start + len(b) - nl - 1)
		}
	}
	runs.sweep()
	return out.close()
}

// formatRuns are the runs of one format, by family name.
type formatRuns struct {
	scheme     model.EscapingScheme
	generation uint64 // one more each response
	byName     map[string]*familyRuns
}

// familyRuns is what is known of a family from the responses before.
type familyRuns struct {
	help string // the family's help and type
	typ  dto.MetricType
	run  *encodedRun // its leading series, encoded; nil if none
	used uint64      // the generation that last served it
	// last are the addresses of its series in the last response its run
	// did not serve, to learn a run from. Addresses, not pointers: they
	// keep nothing alive (pinning an evaluation's series until the next
	// one added 8 MiB to bench/load.sh's peak RSS). An address freed and
	// reused by a new series can match: the run is then encoded from the
	// current values, and served again only for those very values, which
	// it holds.
	last []uintptr
}

// encodedRun is a family's leading series, encoded with its comments.
type encodedRun struct {
	metrics  []*dto.Metric
	plain    []byte
	deflated []byte // plain compressed, once a gzip response needed it
	crc      uint32 // of plain
	// shift is the operator that advances a CRC-32 over len(plain)
	// bytes, made with the run: combining a response's CRC with the run's
	// is then 32 XORs, where making it at each response was ~9.5% of a
	// full scrape's CPU (a 10 s profile, 2,000 units).
	shift crcShift
}

// split returns mf's run, if its leading series have one, and the series
// after it.
func (rs *formatRuns) split(mf *dto.MetricFamily) (*encodedRun, []*dto.Metric) {
	fr := rs.byName[mf.GetName()]
	if fr == nil {
		fr = &familyRuns{}
		rs.byName[mf.GetName()] = fr
	}
	fr.used = rs.generation
	if fr.help != mf.GetHelp() || fr.typ != mf.GetType() {
		fr.help, fr.typ, fr.run, fr.last = mf.GetHelp(), mf.GetType(), nil, nil
	}
	if fr.run != nil && hasPrefix(mf.Metric, fr.run.metrics) {
		return fr.run, mf.Metric[len(fr.run.metrics):]
	}
	// The series it shares with its last response are likely to stay:
	// the bulk units' come first and change with the cache.
	fr.run = nil
	if k := commonPrefixAt(mf.Metric, fr.last); k >= minRun {
		fr.run = newRun(mf, k, rs.scheme)
	}
	fr.last = fr.last[:0]
	for _, m := range mf.Metric {
		fr.last = append(fr.last, uintptr(unsafe.Pointer(m)))
	}
	if fr.run == nil {
		return nil, mf.Metric
	}
	return fr.run, mf.Metric[len(fr.run.metrics):]
}

// sweep forgets the families the last response did not have.
func (rs *formatRuns) sweep() {
	for name, fr := range rs.byName {
		if fr.used != rs.generation {
			delete(rs.byName, name)
		}
	}
}

func newRun(mf *dto.MetricFamily, n int, scheme model.EscapingScheme) *encodedRun {
	run := &encodedRun{metrics: mf.Metric[:n:n]}
	var b bytes.Buffer
	part := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type, Unit: mf.Unit, Metric: run.metrics}
	if _, err := expfmt.MetricFamilyToText(&b, model.EscapeMetricFamily(part, scheme)); err != nil {
		return nil // encoded with the rest, where the error is promhttp's to report
	}
	run.plain, run.crc, run.shift = b.Bytes(), crc32.ChecksumIEEE(b.Bytes()), crc32ShiftOver(int64(b.Len()))
	return run
}

// hasPrefix reports whether ms begins with the very values of prefix.
func hasPrefix(ms, prefix []*dto.Metric) bool {
	return len(ms) >= len(prefix) && commonPrefix(ms, prefix) == len(prefix)
}

// commonPrefixAt is how many leading values of ms are at the addresses of
// at.
func commonPrefixAt(ms []*dto.Metric, at []uintptr) int {
	n := min(len(ms), len(at))
	for i := range n {
		if uintptr(unsafe.Pointer(ms[i])) != at[i] {
			return i
		}
	}
	return n
}

// commonPrefix is how many leading values a and b share (the same
// pointers, not equal contents).
func commonPrefix(a, b []*dto.Metric) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// bodyWriter assembles a response body from runs and freshly encoded
// text.
type bodyWriter interface {
	run(*encodedRun)
	fresh() *bytes.Buffer // where to encode the next fresh text
	close() error
}

type plainBody struct{ w *bytes.Buffer }

func (b *plainBody) run(r *encodedRun)    { b.w.Write(r.plain) }
func (b *plainBody) fresh() *bytes.Buffer { return b.w }
func (b *plainBody) close() error         { return nil }

// gzipBody is one gzip member (RFC 1952) whose deflate stream is the
// concatenation of parts compressed apart: each fresh part, and each run
// once and kept, without a compressor's state (klauspost/compress's
// StatelessDeflate). A compact scrape's 13 KB of changing text takes 30 us
// so, where compress/flate's BestSpeed took 100-130 us, for 0.2% more
// bytes (3,612 against 3,605), and nothing is allocated; the runs' pooled
// default-level compressor (1.1 MB, made at each new unit cache state
// after a collection) held bench/load.sh's peak RSS over its 30 MiB, and
// stateless runs cost the full scrape 61.8 KB against 61.4. A part ends
// with a sync flush (byte-aligned, not final) and refers to no byte before
// it, so the parts can follow one another; an empty final block ends the
// stream. The trailer's CRC-32 is the parts' combined.
type gzipBody struct {
	w       *bytes.Buffer
	pending *bytes.Buffer // fresh text not compressed yet
	crc     uint32
	size    uint32 // mod 2^32, as RFC 1952's ISIZE
	err     error
}

// gzipHeader is a member header without name, time or extra fields, from
// an unknown OS, as compress/gzip writes it.
var gzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// finalBlock is an empty stored deflate block with BFINAL set: the end of
// the stream after byte-aligned parts.
var finalBlock = []byte{0x01, 0x00, 0x00, 0xff, 0xff}

func newGzipBody(w *bytes.Buffer, pending *bytes.Buffer) *gzipBody {
	w.Write(gzipHeader)
	return &gzipBody{w: w, pending: pending}
}

func (b *gzipBody) fresh() *bytes.Buffer { return b.pending }

func (b *gzipBody) run(r *encodedRun) {
	b.compressPending()
	if r.deflated == nil {
		// Compressed once, served until the units change.
		var d bytes.Buffer
		if err := flate.StatelessDeflate(&d, r.plain, false, nil); err != nil && b.err == nil {
			b.err = err
		}
		r.deflated = d.Bytes()
	}
	b.w.Write(r.deflated)
	b.crc = gf2Times(&r.shift, b.crc) ^ r.crc
	b.size += uint32(len(r.plain))
}

func (b *gzipBody) compressPending() {
	if b.pending.Len() == 0 {
		return
	}
	p := b.pending.Bytes()
	// Not the end of the stream: the part ends byte-aligned, with an
	// empty stored block.
	if err := flate.StatelessDeflate(b.w, p, false, nil); err != nil && b.err == nil {
		b.err = err
	}
	b.crc = crc32.Update(b.crc, crc32.IEEETable, p)
	b.size += uint32(len(p))
	b.pending.Reset()
}

func (b *gzipBody) close() error {
	b.compressPending()
	b.w.Write(finalBlock)
	// The trailer, little-endian (encoding/binary's name is the root
	// tests' binary path).
	crc, size := b.crc, b.size
	b.w.Write([]byte{byte(crc), byte(crc >> 8), byte(crc >> 16), byte(crc >> 24), byte(size), byte(size >> 8), byte(size >> 16), byte(size >> 24)})
	return b.err
}

// crcShift is a linear operator on CRC-32 values over GF(2): column n is
// the image of bit n.
type crcShift = [32]uint32

// crc32ShiftOver is the operator that advances a CRC-32 (IEEE) over n zero
// bytes: the CRC of A followed by B is crc32ShiftOver(len(B)) applied to
// A's, XOR B's.
func crc32ShiftOver(n int64) crcShift {
	var out crcShift
	for i := range out {
		out[i] = 1 << i // the identity: no bytes
	}
	if n <= 0 {
		return out
	}
	// odd is the operator for one zero bit, then squared into the
	// operators for 2, 4, 8... zero bits, composed for each bit of n*8.
	var even, odd [32]uint32
	odd[0] = crc32.IEEE
	row := uint32(1)
	for i := 1; i < 32; i++ {
		odd[i] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // 2 zero bits
	gf2Square(&odd, &even) // 4 zero bits
	// Then 8 (a byte), 16, 32... zero bits, each the square of the one
	// before, composed for each bit of n that is set.
	for cur, prev := &even, &odd; n != 0; n >>= 1 {
		gf2Square(cur, prev)
		if n&1 != 0 {
			for i := range out {
				out[i] = gf2Times(cur, out[i])
			}
		}
		cur, prev = prev, cur
	}
	return out
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}

// negotiations are the headers promhttp answers a kind of request with
// (Content-Type, Content-Encoding, Vary), learnt from promhttp itself so
// that its negotiation stays the only one.
type negotiations struct {
	mu     sync.Mutex
	probe  http.Handler
	byKind map[string]negotiated
}

type negotiated struct {
	header http.Header
	text   bool // a text format, identity or gzip: textEncoder's
}

// maxNegotiations bounds the kinds kept: the headers are the client's.
const maxNegotiations = 64

func (n *negotiations) of(r *http.Request) (http.Header, bool) {
	kind := r.Header.Get("Accept") + "\x00" + r.Header.Get("Accept-Encoding")
	n.mu.Lock()
	defer n.mu.Unlock()
	if got, ok := n.byKind[kind]; ok {
		return got.header, got.text
	}
	if n.probe == nil {
		// No families: the answer is the headers alone.
		n.probe = promhttp.HandlerFor(noFamilies, promhttp.HandlerOpts{})
	}
	probe := &recorder{header: http.Header{}, status: http.StatusOK}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	for _, h := range []string{"Accept", "Accept-Encoding"} {
		req.Header[h] = slices.Clone(r.Header[h])
	}
	n.probe.ServeHTTP(probe, req)
	encoding := probe.header.Get("Content-Encoding")
	got := negotiated{
		header: probe.header,
		text: probe.status == http.StatusOK && (encoding == "" || encoding == "gzip") &&
			expfmt.Format(probe.header.Get("Content-Type")).FormatType() == expfmt.TypeTextPlain,
	}
	if len(n.byKind) >= maxNegotiations || n.byKind == nil {
		n.byKind = map[string]negotiated{}
	}
	n.byKind[kind] = got
	return got.header, got.text
}

// noFamilies gathers nothing: a promhttp handler made over it answers only
// with its headers, or registers its own counters.
var noFamilies = prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, nil })
