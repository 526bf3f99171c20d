# StoreLens: the two commands that do all set-up on a fresh clone are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages the tests use: a real MQTT broker, GStreamer's RTSP server (with Debian's Python bindings),
# Chromium for the iPad page's browser tests, and RabbitMQ (its MQTT plugin as head office's central broker).
SYSTEM_PACKAGES := mosquitto rabbitmq-server python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav \
	chromium fonts-dejavu-core

# The top-level folders that install as storelens.<name> (pyproject.toml [tool.setuptools.package-dir]).
STAGE_DIRS := edge models gallery api calibration sample_videos

.PHONY: setup system-deps models demo test lint typecheck-tree bench clean

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

# mypy and import-linter read the installed layout (storelens.edge, ...): a tree of hard links to the source,
# remade on every run, in build/typecheck.
TYPECHECK := build/typecheck

typecheck-tree:
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/storelens
	cp -rl storelens/. $(TYPECHECK)/storelens/
	for d in $(STAGE_DIRS); do cp -rl $$d $(TYPECHECK)/storelens/$$d; done
	find $(TYPECHECK) \( -name __pycache__ -o -name cache \) -prune -exec rm -rf {} +

lint: setup typecheck-tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/lint-imports --no-cache --config $(CURDIR)/pyproject.toml

test: system-deps models lint
	$(BIN)/python -m pytest

bench: system-deps models
	$(BIN)/python -m pip install --quiet --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0
	$(BIN)/storelens bench --write docs/benchmarks.md

clean:
	rm -rf $(VENV) build models/*.onnx test-artifacts .pytest_cache .mypy_cache .ruff_cache
