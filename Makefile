# motionvla: `make demo` runs the quickstart, `make test` the test suite. Both create .venv
# (Python 3.12) and install the project into it first when needed; `make test` also sets up LIBERO
# (`make libero`) so its tests run instead of skipping.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.motionvla-installed
LIBERO_STAMP := $(VENV)/.motionvla-libero
# ROS 2 (rclpy + Fast DDS wheels, rosbridge-server-rs) lives in a venv of its own: see tools/setup_ros.sh.
ROS_VENV ?= .venv-ros
ROS_STAMP := $(ROS_VENV)/.motionvla-ros-installed
export MUJOCO_GL ?= egl
export WANDB_MODE ?= offline
PYTEST_ARGS ?=
# The suite runs in this many pytest-xdist worker processes; 0 runs it in one process. Its groups (a document's docs
# blocks, a file with a module fixture: tests/conftest.py) go to one worker each, in the conftest's order (long
# first, hence --no-loadscope-reorder). --durations: every run lists its 30 slowest tests, so a slower suite shows
# where the time went (README, Tests).
TEST_WORKERS ?= 2

.PHONY: demo test install libero ros check-system clean lock

demo: $(STAMP) check-system
	$(VENV)/bin/motionvla quickstart

test: $(STAMP) $(LIBERO_STAMP) $(ROS_STAMP) check-system
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=30 $(PYTEST_ARGS)

install: $(STAMP)

# LIBERO (hf-libero + its meshes, config, npz init states); idempotent and offline once done.
libero: $(STAMP)
	$(PY) tools/setup_libero.py
	@touch $(LIBERO_STAMP)

$(LIBERO_STAMP): $(STAMP) tools/setup_libero.py sim_envs/libero/install.py
	$(PY) tools/setup_libero.py
	@touch $(LIBERO_STAMP)

# The ROS 2 venv for the ROS bridge and its tests (tests/deploy/ros); idempotent.
ros: $(ROS_STAMP)

$(ROS_STAMP): tools/setup_ros.sh packages/motionvla-client/pyproject.toml
	PIP_CONSTRAINT= ROS_VENV=$(ROS_VENV) tools/setup_ros.sh $(ROS_VENV)
	@touch $(ROS_STAMP)

check-system:
	@tools/check_system.sh

# Every install below (tools/setup_libero.py's and tools/setup_ros.sh's too) is pinned by constraints.txt
# (PIP_CONSTRAINT, pip's own variable; uv gets it as -c); `make lock` refreshes the file after a requirement changes
# (tools/lock.py).
export PIP_CONSTRAINT ?= $(CURDIR)/constraints.txt
# Installs go through uv's pip interface, which the venv's own pip puts there first (pinned in constraints.txt): the
# same packages at the same versions, downloaded and unpacked in parallel (README: the figures). --compile-bytecode,
# as pip does: without the .pyc files, every process under PYTHONDONTWRITEBYTECODE=1 compiles torch & co. again (a
# model import went from 12 to 33 CPU-s, the suite from 19 to 32 minutes). The helpers fall back to pip when uv is
# absent.
UV := $(VENV)/bin/uv
export MOTIONVLA_UV := $(abspath $(UV))
UV_PIP = $(UV) pip install --quiet --compile-bytecode --python $(PY) $(if $(PIP_CONSTRAINT),-c $(PIP_CONSTRAINT))

$(STAMP): pyproject.toml packages/motionvla-client/pyproject.toml packages/lerobot-policy-motionvla/pyproject.toml constraints.txt
	@if [ -n "$(PIP_CONSTRAINT)" ]; then "$$(tools/find_python312.sh)" tools/lock.py check || exit 1; fi
	@if [ ! -x $(PY) ]; then \
	  python=$$(tools/find_python312.sh) || exit 1; \
	  echo "creating $(VENV) with $$python"; \
	  "$$python" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet uv
	$(UV_PIP) -e "packages/motionvla-client[ros]" -e ".[test,ray,wandb]"
# lerobot's plugin shim: lerobot-train / lerobot-eval find the motionvla policy type without extra flags.
	$(UV_PIP) --no-deps -e packages/lerobot-policy-motionvla
# openpi-client (tests drive our server with it) pins numpy<2, but its client code runs on numpy 2: no deps.
	$(UV_PIP) --no-deps "openpi-client==0.1.2"
	@touch $(STAMP)

# Re-resolve the requirements without the old pins (uv's newest that fit pyproject.toml), then pin the result.
lock:
	rm -f $(STAMP) $(LIBERO_STAMP)
	$(MAKE) install libero PIP_CONSTRAINT=
	$(PY) tools/lock.py write

clean:
	rm -rf $(VENV) $(ROS_VENV) outputs .pytest_cache
