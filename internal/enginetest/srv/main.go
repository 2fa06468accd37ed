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

// Command srv is the test server internal/enginetest puts, built static
// (CGO_ENABLED=0), alone into a FROM-scratch image: it has no shell and no
// libc to lean on, so it is its own server, health check and idler.
//
//	srv serve ADDR   listen on TCP ADDR; greet each connection with
//	                 "warden-test-srv\n" and close it
//	srv check ADDR   dial ADDR (1 s timeout): print "ok" and exit 0, or
//	                 print the error and exit 1 (a --health-cmd)
//	srv sleep        sleep until killed
//
// serve reads its environment: CRASH_AFTER=N exits with code 3 after N
// seconds (a crash loop under --restart=always); EAT_MB=N allocates and
// touches N MiB at start (killed by the OOM killer under --memory);
// NO_LISTEN=1 runs but never listens (a published port nothing serves).
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Greeting is what serve writes to every connection.
const Greeting = "warden-test-srv\n"

// crashCode is CRASH_AFTER's exit code: not 0 (a clean exit), not 1 (any
// error) and not 137 (SIGKILL, as the OOM killer), so a test sees which.
const crashCode = 3

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// As a container's PID 1 srv gets no default action for SIGTERM: it
	// would sit out `docker stop`'s 10 s until SIGKILL. The handler's
	// goroutine also keeps the runtime from calling a select{} with nothing
	// else running a deadlock (exit 2).
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-stop
		fmt.Fprintf(os.Stderr, "srv: %v: exiting\n", sig)
		os.Exit(0)
	}()
	switch cmd := os.Args[1]; {
	case cmd == "serve" && len(os.Args) == 3:
		os.Exit(serve(os.Args[2]))
	case cmd == "check" && len(os.Args) == 3:
		os.Exit(check(os.Args[2]))
	case cmd == "sleep" && len(os.Args) == 2:
		select {}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: srv serve ADDR | srv check ADDR | srv sleep")
	os.Exit(2)
}

func envInt(name string) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a count >= 0", name, v)
	}
	return n, nil
}

func serve(addr string) int {
	crash, err := envInt("CRASH_AFTER")
	if err == nil && crash > 0 {
		time.AfterFunc(time.Duration(crash)*time.Second, func() {
			fmt.Fprintf(os.Stderr, "srv: crashing after %d s (CRASH_AFTER)\n", crash)
			os.Exit(crashCode)
		})
	}
	eat, err2 := envInt("EAT_MB")
	if err == nil {
		err = err2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "srv:", err)
		return 2
	}
	// Touch every page: an allocation alone is not charged to the cgroup
	// until written. The slice stays referenced until serve returns.
	mem := make([]byte, eat<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	if os.Getenv("NO_LISTEN") == "1" {
		fmt.Fprintln(os.Stderr, "srv: not listening (NO_LISTEN=1)")
		select {}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "srv:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "srv: listening on %s (holding %d MiB)\n", l.Addr(), len(mem)>>20)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "srv:", err)
			return 1
		}
		go func() {
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte(Greeting))
		}()
	}
}

func check(addr string) int {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	c.Close()
	fmt.Println("ok")
	return 0
}
