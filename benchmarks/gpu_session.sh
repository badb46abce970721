#!/usr/bin/env bash
# One lent-GPU session (issue 21), as run through the device tool: install the wheels the device's
# image lacks (.whl/, and .whl-book/ for the notebooks; downloaded as the device tool's README says)
# (.whl-book/ holds myst-nb and Sphinx too: the chapters glue their numbers with myst_nb)
# once per machine, then, as the variables ask:
#   CHECK=1  the device crops against Pillow there (tests/test_tensor_crops.py)
#   CROPS="--crops N ..."  time extraction (Pillow's crops vs the device's) against the bare forward
#   SCALING="--device cuda --budget S"  the stages of benchmarks/scaling.py
#   BOOK="--profile P --set run.device=cuda ..."  every chapter through `hoilib run` (timeout BOOK_S s,
#     or until DEADLINE s after the script began),
#     after `hoilib.run.prepare --jobs JOBS` has filled the heavy stages when JOBS is set
#     (timeout PREPARE_S s; CPU kernels KERNELS, the profile's run.cpu_kernels); the run folder (RUN_DIR) stays on the machine, so a second call while it
#     is warm goes on where the first stopped.
# Results land in $OUT.
set -u
OUT=${OUT:-/tmp/gpu-out}
RUN_DIR=${RUN_DIR:-/tmp/book-run}
mkdir -p "$OUT"
if [ ! -f /tmp/site/.installed ]; then
  t0=$SECONDS
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl $( [ -n "${BOOK:-}" ] && echo .whl-book/*.whl ) || exit 1
  touch /tmp/site/.installed
  echo "== wheels installed in $((SECONDS - t0)) s"
fi
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
nproc; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
step() { echo "== $*"; local t0=$SECONDS; "$@"; echo "== rc $? in $((SECONDS - t0)) s"; }
# the GPU's load and memory every 2 s, for the whole session
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 2 \
  >>"$OUT/gpu_load.csv" &
if [ -n "${CHECK:-}" ]; then
  step python3 -m pytest --noconftest -q -p no:cacheprovider tests/test_tensor_crops.py -k byte_for_byte
fi
if [ -n "${CROPS:-}" ]; then
  V="python3 -W ignore benchmarks/vit_b16.py --bare --skip-train $CROPS"
  step $V --crop-path device --workers 4 --out "$OUT/vit_device_w4.json"
  step $V --crop-path device --workers 8 --out "$OUT/vit_device_w8.json"
  step $V --crop-path pil --workers 4 --repeats 1 --out "$OUT/vit_pil_w4.json"
fi
if [ -n "${SCALING:-}" ]; then
  step timeout 240 python3 -W ignore benchmarks/scaling.py $SCALING --out "$OUT/scaling_cuda.json"
fi
if [ -n "${BOOK:-}" ]; then
  python3 -c "from hoilib.kernel_launch import install; install('/tmp/jp')"
  export JUPYTER_PATH=/tmp/jp/share/jupyter
  if [ -n "${JOBS:-}" ]; then
    # the chapters' CPU kernels and threads (the profile's run.cpu_kernels), set before torch starts
    eval "$(python3 -c "from hoilib.machine import kernel_env; import sys
print(' '.join(f'export {a}={b}' for a, b in kernel_env(sys.argv[1]).items()))" "${KERNELS:-portable}")"
    step timeout "${PREPARE_S:-300}" python3 -m hoilib.run.prepare $BOOK --jobs "$JOBS" \
      --set run.run_dir="$RUN_DIR" 2>&1 | tee -a "$OUT/prepare.log"
  fi
  # BOOK_S, else what is left of DEADLINE s since the script began (300 s without either)
  step timeout "${BOOK_S:-$(( ${DEADLINE:-$((SECONDS + 300))} - SECONDS ))}" python3 -m hoilib run $BOOK --set run.run_dir="$RUN_DIR"
  tar -czf "$OUT/book-run.tgz" -C "$RUN_DIR" provenance.json run.log metrics 2>/dev/null
fi
kill %1 2>/dev/null
