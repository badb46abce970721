#!/usr/bin/env bash
# One lent-GPU session (issue 21), as run through the device tool: install the wheels the device's
# image lacks (.whl/, downloaded as /work/.library/device/README.md says), check the device crops
# against Pillow there, then time extraction (Pillow's crops vs the device's, against the bare
# forward) and the stages of benchmarks/scaling.py. Results land in $OUT.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.csv"
nproc; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"
step() { echo "== $*"; local t0=$SECONDS; "$@"; echo "== rc $? in $((SECONDS - t0)) s"; }
step python3 -m pytest --noconftest -q -p no:cacheprovider tests/test_tensor_crops.py -k byte_for_byte
V="python3 -W ignore benchmarks/vit_b16.py --bare --crops 6144 --repeats 5"
step $V --crop-path pil --workers 4 --skip-train --out "$OUT/vit_pil_w4.json"
step $V --crop-path device --workers 4 --out "$OUT/vit_device_w4.json"
step $V --crop-path device --workers 8 --skip-train --out "$OUT/vit_device_w8.json"
step $V --crop-path device --workers 4 --batch 1024 --skip-train --out "$OUT/vit_device_b1024.json"
if [ -n "${SCALING:-}" ]; then
  step timeout 240 python3 -W ignore benchmarks/scaling.py $SCALING --out "$OUT/scaling_cuda.json"
fi
