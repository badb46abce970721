#!/usr/bin/env bash
# One lent-GPU session (issue 21), as run through the device tool: install the wheels the device's
# image lacks (.whl/, and .whl-book/ for the notebooks; downloaded as the device tool's README says),
# check the device crops against Pillow there, then, as the variables ask:
#   CROPS="--crops N ..."  time extraction (Pillow's crops vs the device's) against the bare forward
#   SCALING="--device cuda --budget S"  the stages of benchmarks/scaling.py
#   BOOK="--profile P --set device=cuda ..."  every chapter through `hoilib run` (timeout BOOK_S s)
# Results land in $OUT.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl $( [ -n "${BOOK:-}" ] && echo .whl-book/*.whl ) || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
nproc; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
step() { echo "== $*"; local t0=$SECONDS; "$@"; echo "== rc $? in $((SECONDS - t0)) s"; }
step python3 -m pytest --noconftest -q -p no:cacheprovider tests/test_tensor_crops.py -k byte_for_byte
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
  step timeout "${BOOK_S:-300}" python3 -m hoilib run $BOOK --set run.run_dir=/tmp/book-run
  tar -czf "$OUT/book-run.tgz" -C /tmp/book-run provenance.json run.log metrics 2>/dev/null
fi
