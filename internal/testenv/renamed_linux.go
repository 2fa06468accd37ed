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

package testenv

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// renamedEnv carries, to a test binary started as a renamed listener, the
// name to take (in hex: any bytes but NUL) and where to listen:
// "hexname network address".
const renamedEnv = "WARDEN_HELPER_RENAMED_LISTENER"

// renamedHelper is the test binary itself when StartRenamedListener started
// it: it never returns then. It runs as a package variable's initializer
// because package initialization is the one time Go code certainly runs on
// the main thread (the runtime locks it there until main): PR_SET_NAME
// renames the calling thread, and /proc/<pid>/comm is the main thread's
// name. A test's goroutine may run on any thread.
var _ = renamedHelper()

func renamedHelper() bool {
	spec, ok := os.LookupEnv(renamedEnv)
	if !ok {
		return false
	}
	parts := strings.Fields(spec)
	var name []byte
	var err error
	if len(parts) == 3 {
		name, err = hex.DecodeString(parts[0])
	}
	if len(parts) != 3 || err != nil {
		fmt.Fprintln(os.Stderr, "bad", renamedEnv, spec)
		os.Exit(2)
	}
	network, addr := parts[1], parts[2]
	// Listen first: the name is then the only thing that differs from any
	// other listener of the test.
	l, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	p, err := unix.BytePtrFromString(string(name))
	if err == nil {
		err = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0)
		runtime.KeepAlive(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "prctl:", err)
		os.Exit(2)
	}
	fmt.Printf("%s\n", l.Addr())
	// Until the test closes stdin (or ends: the pipe closes with it), at
	// most ten minutes.
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
	}
	os.Exit(0)
	return true
}

// RenamedListener is a process started by StartRenamedListener.
type RenamedListener struct {
	PID  int
	Addr string // where it listens
}

// StartRenamedListener starts a process that renames itself to name with
// prctl(PR_SET_NAME), as any local user can, and listens on network/addr
// (loopback). The process is this test binary; it is killed, by its pid,
// when the test ends. The name /proc shows is checked against name (the
// kernel keeps its first 15 bytes), so a test can rely on it.
func StartRenamedListener(t testing.TB, name, network, addr string) RenamedListener {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), renamedEnv+"="+hex.EncodeToString([]byte(name))+" "+network+" "+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(pid, syscall.SIGKILL)
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	var got string
	select {
	case got = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("the renamed listener (pid %d) did not say where it listens within 30 s", pid)
	}
	if got == "" {
		t.Fatalf("the renamed listener (pid %d) failed to start", pid)
	}
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	want := name[:min(len(name), 15)]
	if err != nil || strings.TrimSuffix(string(comm), "\n") != want {
		t.Fatalf("pid %d is named %q (%v), want %q: the premise of the test does not hold", pid, comm, err, want)
	}
	return RenamedListener{PID: pid, Addr: got}
}
