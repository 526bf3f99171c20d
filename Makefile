# StoreLens: the two commands that do all set-up on a fresh clone are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages: what the demo runs (a real MQTT broker; fonts for its charts and signs, Chinese included), and what the tests add: GStreamer's
# RTSP server (with Debian's Python bindings), Chromium for the pages' browser tests, and RabbitMQ (its MQTT plugin
# as head office's central broker; mosquitto_pub, the head-office benchmark's publisher).
DEMO_PACKAGES := mosquitto fonts-dejavu-core fonts-wqy-microhei
TEST_PACKAGES := $(DEMO_PACKAGES) mosquitto-clients rabbitmq-server python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav chromium

# The top-level folders that install as storelens.<name> (setup.py PACKAGE_DIR).
STAGE_DIRS := edge models gallery api hq calibration sample_videos

# The venv holds the runtime dependencies (pyproject.toml), the test extras for `make test`, and StoreLens itself as
# a wheel built from the tree on every run, never an editable install: the demo and the tests run what ships.
BASE   := $(VENV)/.base
EXTRAS := $(VENV)/.test-extras
DEMO_EXTRAS := $(VENV)/.demo-extras
WHEELS := build/wheel
PIP    := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: setup install install-hq dev system-deps system-deps-test models demo test lint docs typecheck-tree bench clean

$(BASE): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "StoreLens needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet .
	touch $(BASE)

# A store box needs only the base dependencies; the demo adds [demo], the suite every extra ([test] holds them).
$(DEMO_EXTRAS): $(BASE)
	$(PIP) install --quiet '.[demo]'
	touch $(DEMO_EXTRAS)

$(EXTRAS): $(BASE)
	$(PIP) install --quiet '.[test]'
	touch $(EXTRAS)

# Head office's machine: the package with [hq] (pika, psycopg) into the venv.
install-hq: install
	$(PIP) install --quiet "$$(ls $(WHEELS)/storelens-*.whl)[hq]"

# The package as users get it: a wheel built from the tree, installed over whatever was there (seconds).
install: $(BASE)
	rm -rf $(WHEELS) build/lib build/bdist.*  # setuptools' staging: a module moved away must not ship from it
	$(PIP) wheel --quiet --no-deps --wheel-dir $(WHEELS) .
	$(PIP) install --quiet --no-deps --force-reinstall $(WHEELS)/storelens-*.whl

setup: install

# A developer's fast loop: an editable install (the tests refuse it unless STORELENS_TEST_EDITABLE=1).
dev: $(EXTRAS)
	$(PIP) install --quiet --no-deps -e .

define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call apt_install,$(DEMO_PACKAGES))

system-deps-test:
	$(call apt_install,$(TEST_PACKAGES))

# Into $STORELENS_HOME/models (default ~/.local/share/storelens/models), where every command finds them.
models: install
	$(BIN)/storelens models prepare

demo: system-deps $(DEMO_EXTRAS) models
	$(BIN)/storelens demo

# mypy and import-linter read the installed layout (storelens.edge, ...): a tree of hard links to the source,
# remade on every run, in build/typecheck.
TYPECHECK := build/typecheck

typecheck-tree:
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/storelens
	cp -rl storelens/. $(TYPECHECK)/storelens/
	for d in $(STAGE_DIRS); do cp -rl $$d $(TYPECHECK)/storelens/$$d; done
	find $(TYPECHECK) \( -name __pycache__ -o -name cache \) -prune -exec rm -rf {} +

lint: $(EXTRAS) install typecheck-tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd $(TYPECHECK) && $(CURDIR)/$(BIN)/lint-imports --no-cache --config $(CURDIR)/pyproject.toml
	$(BIN)/python -m tests.helpers.catalogues check  # every message shown has its French and Chinese

# The manual, offline, strict: a broken link or anchor, a page left out of the nav, any warning fails the build.
# (NO_MKDOCS_2_WARNING: Material's notice about MkDocs 2.0 is a banner, not a finding about this manual.)
docs: $(EXTRAS)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

# pytest runs from the venv's own script (never `python -m`, which would put the tree on sys.path) with
# --import-mode=append (pyproject.toml): `storelens` is the installed wheel, tests/conftest.py checks it.
test: system-deps-test $(EXTRAS) models lint docs
	$(BIN)/pytest -n auto --dist loadgroup --durations=25

bench: system-deps-test $(EXTRAS) models
	# the face_recognition baseline; its models package reads pkg_resources, which setuptools 81 dropped
	$(BIN)/python -m pip install --quiet --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0 'setuptools>=77,<81'
	$(BIN)/storelens bench --write docs/benchmarks.md

clean:
	rm -rf $(VENV) build *.egg-info models/*.onnx test-artifacts .pytest_cache .mypy_cache .ruff_cache
