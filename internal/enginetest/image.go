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

//go:build linux

package enginetest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warden-exporter/warden_exporter/internal/testenv"
)

// ImageRef is the reference Image gives the test server's image.
const ImageRef = "localhost/warden-test-srv:latest"

// srvPackage is the test server the image holds.
const srvPackage = "github.com/warden-exporter/warden_exporter/internal/enginetest/srv"

// SrvPort is the port the tests' containers serve on by convention
// (RunOptions{Cmd: []string{"serve", ":9863"}}).
const SrvPort = 9863

// Greeting is what srv serve writes to every connection.
const Greeting = "warden-test-srv\n"

// Image builds the test server (./srv, static) and imports it into the
// engine as ImageRef, an image FROM scratch holding /srv alone with /srv as
// its entrypoint; once per engine. It returns the reference.
func (e *Engine) Image(t testing.TB) string {
	t.Helper()
	e.imageMu.Lock()
	defer e.imageMu.Unlock()
	if e.image != "" {
		return e.image
	}
	start := time.Now()
	layer := buildSrvLayer(t)
	repo, tag, _ := strings.Cut(ImageRef, ":")
	q := url.Values{"fromSrc": {"-"}, "repo": {repo}, "tag": {tag}, "changes": {`ENTRYPOINT ["/srv"]`}}
	var progress []byte
	if err := e.Call(http.MethodPost, "/images/create", q, bytes.NewReader(layer), &progress); err != nil {
		t.Fatalf("importing the test image: %v", err)
	}
	// The answer is a stream of JSON messages, 200 even where one says the
	// import failed.
	if bytes.Contains(progress, []byte(`"error`)) {
		t.Fatalf("importing the test image into %s: %s", e.Name, strings.ToValidUTF8(string(progress), "?"))
	}
	var img struct{ Config struct{ Entrypoint []string } }
	if err := e.Call(http.MethodGet, "/images/"+ImageRef+"/json", nil, nil, &img); err != nil {
		t.Fatalf("the imported test image: %v (import said %s)", err, progress)
	}
	if ep, _ := json.Marshal(img.Config.Entrypoint); string(ep) != `["/srv"]` {
		t.Fatalf("the imported test image's entrypoint is %s, want [\"/srv\"]", ep)
	}
	e.image, e.imageDur = ImageRef, time.Since(start)
	t.Logf("%s: test image built and imported in %v", e.Name, e.imageDur.Round(time.Millisecond))
	return e.image
}

// buildSrvLayer builds srv with CGO_ENABLED=0 (nothing in a scratch image
// to link against) and returns a tar holding it as /srv.
func buildSrvLayer(t testing.TB) []byte {
	t.Helper()
	goTool := testenv.LookPath(t, "go", "the Go toolchain builds the test server")
	bin := filepath.Join(t.TempDir(), "srv")
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, srvPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test server: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "srv", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(fmt.Errorf("writing the image layer: %w", err))
	}
	return buf.Bytes()
}
