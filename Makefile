# Osprey: two commands do everything on a fresh machine.
#   make run    provision ONNX Runtime, build, serve on :32168 with the default model (SERVE_FLAGS=... for more)
#   make test   provision, then fmt + clippy + every test (what CI runs)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
SHARED ?= $(abspath ../shared)
export OSPREY_SHARED ?= $(SHARED)
# The default model: models/yolo11n-320.onnx if you exported one (see README), else the shared test copy.
MODEL ?= $(firstword $(wildcard models/yolo11n-320.onnx) $(wildcard $(SHARED)/models/yolo11n-320.onnx) models/yolo11n-320.onnx)
ORT_LIB := runtime/onnxruntime/lib/libonnxruntime.so
OV_STAMP := runtime/openvino/VERSION

.PHONY: all provision system-deps test-deps build run detect test lint bench clean ui ui-check ui-test compat fuzz-auth

all: build

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# apt-get install, refreshing the package lists first if the package is not known yet.
APT = apt_install() { $(SUDO) apt-get install -y -q "$$@" || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q "$$@"; }; }; apt_install

## System libraries the build links against: libturbojpeg, FFmpeg's libav* (video decode; bindgen
## needs libclang to read their headers). Uses apt when missing.
FFMPEG_DEV := libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev libavdevice-dev
system-deps:
	@pkg-config --exists libturbojpeg || { echo "installing libturbojpeg0-dev (libjpeg-turbo's TurboJPEG API)"; $(APT) libturbojpeg0-dev pkg-config; }
	@pkg-config --exists libavcodec libavformat libavutil libswscale && ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || { echo "installing FFmpeg development packages and libclang"; $(APT) $(FFMPEG_DEV) libclang-dev clang pkg-config; }

## Real servers the integration tests start on free loopback ports: VictoriaMetrics and
## InfluxDB 1.6 (line-protocol targets), Prometheus (scrapes /metrics), Redis and Mosquitto
## (camera metadata and events), ffmpeg, and GStreamer's RTSP server for tools/rtsp-server.py.
TEST_TOOLS := victoria-metrics:victoria-metrics influxd:influxdb prometheus:prometheus prometheus-node-exporter:prometheus-node-exporter redis-server:redis-server mosquitto:mosquitto ffmpeg:ffmpeg chromium:chromium node:nodejs npm:npm
RTSP_PACKAGES := python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
test-deps:
	@missing=""; for t in $(TEST_TOOLS); do command -v "$${t%%:*}" >/dev/null || missing="$$missing $${t#*:}"; done; \
	/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" 2>/dev/null || missing="$$missing $(RTSP_PACKAGES)"; \
	if [ -n "$$missing" ]; then echo "installing test servers:$$missing"; $(APT) $$missing; fi
	@# The web UI's build (esbuild) and browser tests (playwright-core driving Debian's chromium).
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	cd tests-browser && npm ci --no-audit --no-fund --loglevel=error

## ONNX Runtime's shared library, from the PyPI wheel (ORT_FLAVOR=gpu for CUDA/TensorRT), and
## OpenVINO's CPU libraries for `--engine openvino`, from the PyPI openvino wheel.
provision: $(ORT_LIB) $(OV_STAMP)
$(ORT_LIB):
	tools/provision-ort.sh
$(OV_STAMP):
	tools/provision-openvino.sh

build: system-deps provision
	$(CARGO) build --release --locked

run: build
	@test -f "$(MODEL)" || { echo "no model at $(MODEL): export one (README, 'Getting a model') or set MODEL=path.onnx"; exit 1; }
	./target/release/osprey serve --model "$(MODEL)" $(SERVE_FLAGS)

lint: system-deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

test: system-deps test-deps provision lint
	$(CARGO) test --release --locked --workspace
	$(MAKE) compat
	$(MAKE) deploy-smoke
	$(MAKE) arm64-check

## Real third-party DeepStack clients against the release binary (docs/security.md): Home
## Assistant's deepstack-python from PyPI, and Frigate's own detector plugin when FRIGATE_SRC
## names a Frigate checkout (skipped loudly otherwise).
compat:
	OSPREY_BIN=$(abspath target/release/osprey) ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) tests-compat/run.sh

## Coverage-guided fuzzing of the auth parsers, RUNS (1000000) runs each (nightly or
## RUSTC_BOOTSTRAP; installs cargo-fuzz). `make test` runs the deterministic mutation slice.
fuzz-auth:
	benches/fuzz-auth.sh

bench: build test-deps
	benches/run.sh
	benches/http.sh
	benches/metrics-overhead.sh
	benches/cameras.sh
	benches/recording-index.sh

## The web UI (docs/ui.md): `make ui` rebuilds ui/dist (committed, embedded by osprey-api's
## build.rs, so `cargo build` needs no Node); `ui-check` fails when ui/dist differs from a fresh
## build; `ui-test` runs the browser tests against the release binary.
ui:
	cd ui && npm ci --no-audit --no-fund --loglevel=error && node build.mjs
ui-check:
	node ui/build.mjs --check
ui-test: build test-deps
	OSPREY_BIN=$(abspath target/release/osprey) ORT_DYLIB_PATH=$(abspath $(ORT_LIB)) node tests-browser/run.mjs

clean:
	$(CARGO) clean

## Deploy (docs/deploy.md)
## `image`: the container image FROM scratch (DEPLOY_ARCH=arm64 for the aarch64 one; podman).
## `deb`: the Debian package (dpkg-deb; DEPLOY_ARCH=arm64 likewise).
## `deploy-test`: the slow suites: image test, compose test (podman-compose), package test in a
## debootstrapped Debian 12 chroot (root, network to Debian's mirror).
## `deploy-smoke`: the fast slice for CI (no network, podman or debootstrap): package tree,
## control fields and modes, systemd-analyze verify/security on the unit, compose.yaml and
## Prometheus configs, the health probe, shellcheck. Installs systemd-analyze and shellcheck if missing.
.PHONY: image deb deploy-test deploy-smoke
DEPLOY_ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
image:
	deploy/container/build.sh $(DEPLOY_ARCH)
deb:
	deploy/debian/build.sh $(DEPLOY_ARCH)
deploy-test: image
	deploy/container/test.sh
	deploy/compose-test.sh
	deploy/debian/test.sh
deploy-smoke:
	@command -v systemd-analyze >/dev/null && command -v shellcheck >/dev/null && command -v dpkg-shlibdeps >/dev/null || { echo "installing systemd, shellcheck, dpkg-dev"; $(APT) systemd shellcheck dpkg-dev; }
	deploy/smoke.sh

## arm64 (docs/arm64.md): `arm64` cross-builds target/aarch64-unknown-linux-gnu/release/osprey and
## provisions the aarch64 engines from PyPI (~14 min on 2 cores); `arm64-parity` runs detect, eval
## and the server under qemu-aarch64 against the x86 reference (~15 min; SKIP_OPENVINO=1 halves it);
## `arm64-check` is CI's slice: the cross toolchain resolves (apt multiarch packages and the Rust
## target, installed when missing) and a small C and Rust program link and run under qemu.
.PHONY: arm64 arm64-parity arm64-check
arm64:
	deploy/arm64/build.sh
arm64-parity:
	deploy/arm64/parity.sh
arm64-check:
	deploy/arm64/build.sh --deps
	deploy/arm64/build.sh --check-env
