# mmvlpuda developer commands. Everything runs inside .venv (created on demand).
#   make install    create .venv and install mmvlpuda (mmcv-lite path)
#   make test       install if needed, then run the test suite
#   make demo       install if needed, then a short real CMKD run on CPU
#   make mmcv-full  optional: build mmcv 2.1.0 with compiled CPU ops (C++20)
#   make gpu-check  benchmarks + short real-size trainings on the GPU, one
#                   table (GPU_CHECK_ARGS="--device cpu --quick": dry run)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmvlpuda-installed
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
export HF_HUB_OFFLINE := 1
export PYTHONWARNINGS := ignore::FutureWarning

.PHONY: install test demo mmcv-full gpu-check clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'setuptools>=77,<82' wheel
	$(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[lite,tests,demo]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(PY) tools/demo.py

# Full mmcv 2.1.0 with compiled CPU ops from the PyPI sdist: torch 2.14's
# headers need C++20 and mmcv's setup.py needs pkg_resources (setuptools<82).
# Takes ~20-35 min on 2 cores; replaces mmcv-lite.
mmcv-full: $(STAMP)
	rm -rf build/mmcv && mkdir -p build/mmcv
	$(PY) -m pip download --no-deps --no-binary :all: mmcv==2.1.0 -d build/mmcv
	tar -xzf build/mmcv/mmcv-2.1.0.tar.gz -C build/mmcv
	sed -i 's/-std=c++14/-std=c++20/g; s/-std=c++17/-std=c++20/g' build/mmcv/mmcv-2.1.0/setup.py
	cd build/mmcv/mmcv-2.1.0 && MMCV_WITH_OPS=1 MAX_JOBS=$${MAX_JOBS:-2} \
		$(abspath $(PY)) -m pip wheel --no-build-isolation --no-deps -w ../wheel .
	$(PY) -m pip uninstall -y mmcv-lite
	$(PY) -m pip install --no-deps build/mmcv/wheel/mmcv-2.1.0-*.whl
	$(PY) -c "import torch, mmcv.ops as ops; b = torch.tensor([[0., 0, 2, 2], [0, 0, 2, 2.1]]); print('nms ok', ops.nms(b, torch.tensor([.9, .8]), .5)[1])"

GPU_CHECK_ARGS ?= --device cuda
gpu-check: $(STAMP)
	PY=$(PY) bash benchmarks/gpu_check.sh $(GPU_CHECK_ARGS)

clean:
	rm -rf build work_dirs .pytest_cache
