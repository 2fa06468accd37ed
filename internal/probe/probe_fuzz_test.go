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

package probe

import (
	"context"
	"io"
	"net"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/config"
)

// FuzzExchange runs the send/expect engine against a peer that answers
// arbitrary bytes: no input may crash it, hang it past the deadline, or
// make it hold more than its read limit.
func FuzzExchange(f *testing.F) {
	f.Add([]byte("+PONG\r\n"), `^\+PONG`, "PING\r\n")
	f.Add([]byte("TOKEN abc\r\n"), `^TOKEN (\w+)`, "AUTH ${1}\r\n")
	f.Add([]byte{}, `(a+)+$`, "${name}")
	f.Fuzz(func(t *testing.T, answer []byte, expr, send string) {
		re, err := regexp.Compile(expr)
		if err != nil || len(expr) > 256 {
			return
		}
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			server.SetDeadline(time.Now().Add(time.Second))
			server.Write(answer)
			io.Copy(io.Discard, server)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		client.SetDeadline(time.Now().Add(200 * time.Millisecond))
		x := newExchange(ctx, client)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		done := make(chan error, 1)
		go func() {
			done <- x.run([]config.Step{{Expect: &config.Regexp{Regexp: re}}, {Send: send}, {Expect: &config.Regexp{Regexp: re}}})
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the exchange hung on %q / %q", answer, expr)
		}
		runtime.ReadMemStats(&after)
		if len(x.buf) > maxExpectBuffer+4096 {
			t.Fatalf("held %d bytes", len(x.buf))
		}
		// Two expects over at most 64 KiB each, a copy of the groups per
		// match and the regexes' own machines: well under 4 MiB.
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 4<<20 {
			t.Fatalf("allocated %d KiB on %q / %q, want < 4 MiB", grown>>10, truncate(answer, 80), expr)
		}
		// Re-scanning is geometric, not one full scan per read.
		if limit := 2 * 8 * (len(answer) + 64); x.scanned > limit {
			t.Fatalf("the regexes ran over %d bytes for a %d-byte answer, want ≤ %d", x.scanned, len(answer), limit)
		}
	})
}

// FuzzStartTLSSMTP runs the SMTP exchange before STARTTLS against a peer
// that sends answer repeat times (up to 8 MiB in all) and then waits: no
// input may crash it, hang it past its deadline, or make it allocate more
// than its bounds allow, however long the peer streams.
func FuzzStartTLSSMTP(f *testing.F) {
	f.Add([]byte("220 mx ESMTP\r\n250-mx\r\n250 STARTTLS\r\n220 go ahead\r\n"), uint16(1))
	f.Add([]byte("220-greeting\r\n"), uint16(60000))
	f.Add([]byte("x"), uint16(60000))
	f.Fuzz(func(t *testing.T, answer []byte, repeat uint16) {
		if len(answer) == 0 || len(answer)*int(repeat) > 8<<20 {
			return
		}
		client, server := net.Pipe()
		defer client.Close()
		go func() {
			defer server.Close()
			server.SetDeadline(time.Now().Add(time.Second))
			for range repeat {
				if _, err := server.Write(answer); err != nil {
					return
				}
			}
			io.Copy(io.Discard, server)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		client.SetDeadline(time.Now().Add(200 * time.Millisecond))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		done := make(chan error, 1)
		go func() { done <- startTLSSMTP(newExchange(ctx, client)) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the STARTTLS exchange hung on %q x %d", truncate(answer, 80), repeat)
		}
		runtime.ReadMemStats(&after)
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
			t.Fatalf("allocated %d KiB on %q x %d, want < 1 MiB", grown>>10, truncate(answer, 80), repeat)
		}
	})
}
