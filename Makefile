# warden_exporter — build, test, lint, bench, image, package.
GO        ?= go
PODMAN    ?= podman
BIN       := warden_exporter
PKG       := github.com/prometheus/common/version
VERSION   := $(shell cat VERSION)
REVISION  := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
BRANCH    := $(shell git symbolic-ref --short -q HEAD 2>/dev/null || echo unknown)
BUILDUSER := $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILDDATE := $(shell date -u +%Y%m%d-%H:%M:%S)
LDFLAGS   := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) \
             -X $(PKG).Branch=$(BRANCH) -X $(PKG).BuildUser=$(BUILDUSER) -X $(PKG).BuildDate=$(BUILDDATE)
IMAGE     ?= localhost/warden_exporter:$(VERSION)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
DIST      ?= dist
GOARCH    ?= $(shell $(GO) env GOARCH)
# nfpm runs from its own tool module, so its dependencies stay out of go.mod.
NFPM      := $(GO) tool -modfile=packaging/tools/go.mod nfpm
# Each format's own name for the architecture in the file name: Debian's
# (dpkg --print-architecture: amd64, arm64, i386...) for the .deb, RPM's
# (x86_64, aarch64, i386...) for the .rpm. nfpm maps the one in the package.
deb_arch_386     := i386
deb_arch_ppc64le := ppc64el
rpm_arch_amd64   := x86_64
rpm_arch_arm64   := aarch64
rpm_arch_386     := i386
DEB_ARCH  := $(or $(deb_arch_$(GOARCH)),$(GOARCH))
RPM_ARCH  := $(or $(rpm_arch_$(GOARCH)),$(GOARCH))

.PHONY: all build run test test-deps unit lint bench fuzz image image-test package docs-images docs-links clean

all: lint build test

## build: one static binary (CGO off, version stamped) at ./warden_exporter
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

## run: the exporter on its embedded default (no config file), on :9863
run: build
	./$(BIN)

## test: the whole suite — installs what it needs (as root), then every test
test: test-deps build
	$(GO) test -race -count=1 ./...
	./scripts/test-image.sh

## test-deps: apt packages and Go modules the tests need
test-deps:
	./scripts/install-test-deps.sh

## unit: the Go tests alone, without installing anything
unit:
	$(GO) test -count=1 ./...

## lint: formatting and vet (also for darwin: the module builds off Linux)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags bench ./bench/
	@# The pure packages build (and vet) on any OS: the Linux-only code is
	@# behind build tags (listeners/other.go, systemd/dial_other.go).
	GOOS=darwin $(GO) build ./...
	GOOS=darwin $(GO) vet ./...

## bench: Go benchmarks, then every side-by-side comparison in bench/ and one table (root)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	./bench/all.sh

## fuzz: every fuzz target on a budget of executions (FUZZTIME=5000x replaces them)
fuzz:
	./scripts/fuzz.sh

## image: the scratch container image, built offline with podman (vfs)
image: build
	rm -rf .build/image && mkdir -p .build/image
	cp $(BIN) packaging/passwd packaging/group .build/image/
	cp $(CA_BUNDLE) .build/image/ca-certificates.crt
	$(PODMAN) --storage-driver=vfs build --pull=never -f Dockerfile \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) -t $(IMAGE) .build/image

## image-test: build the image and check the binary inside answers --version
image-test:
	./scripts/test-image.sh

## package: $(DIST)/warden-exporter_VERSION_ARCH.deb and .rpm with nfpm (packaging/)
package: build
	mkdir -p $(DIST)
	@# GOARCH is the packages' architecture, not the one to build nfpm for.
	env -u GOARCH -u GOOS VERSION=$(VERSION) ARCH=$(GOARCH) BINARY=$(BIN) \
	  $(NFPM) package -f packaging/nfpm.yaml -p deb -t $(DIST)/warden-exporter_$(VERSION)_$(DEB_ARCH).deb
	env -u GOARCH -u GOOS VERSION=$(VERSION) ARCH=$(GOARCH) BINARY=$(BIN) \
	  $(NFPM) package -f packaging/nfpm.yaml -p rpm -t $(DIST)/warden-exporter_$(VERSION)_$(RPM_ARCH).rpm

## docs-images: docs/images/landing.png, a headless chromium screenshot of the built exporter on loopback
docs-images:
	./scripts/docs-images.sh docs/images/landing.png

## docs-links: every relative link and #anchor of README.md, CHANGELOG.md and docs/*.md resolves
docs-links:
	./scripts/check-doc-links.sh

clean:
	rm -rf $(BIN) .build $(DIST)
