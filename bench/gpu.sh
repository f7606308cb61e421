#!/usr/bin/env bash
# The `attribkit evaluate` protocol (default preset: Grad-CAM + threshold; top-5 classes + the true class,
# MaxBoxAcc V1/V2, pointing) on one GPU and on every GPU of this machine, against the sum of its stages
# and the model's forward+backward limit (bench/study_throughput.py). Every figure goes to one JSON file.
#
#   bench/gpu.sh [OUT.json] [PHOTOS]        (defaults: bench-gpu-<host>.json, 512 photos)
#
# Photos: the hand-boxed dev set when it is beside the checkout (../shared/data/imagenet-dev, repeated under
# new names up to PHOTOS), else PHOTOS generated JPEGs of 500x375 with one box each (DATA=... overrides).
# Sized for a short lease: 512 photos by default, a few minutes per run on one GPU by the CPU stage costs
# (MaxBoxAcc on the photo's pixels stays on the CPU; docs/benchmarks.md). No GPU was lent when it was
# written: it was run end to end on the CPU only (DEVICE=cpu NGPU=2 bench/gpu.sh out.json 8).
# Environment: CPU_WORKERS (localiser and loader processes; default: half the cores), MAP_BATCH (default
# 64), PRECISION (default fp32), DEVICE (default cuda; cpu for a smoke test, with NGPU processes).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench-gpu-$(hostname).json}
PHOTOS=${2:-512}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# One intra-op thread per process: the main process, the localiser and the loader workers share the cores.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
CORES=$(nproc)
W=${CPU_WORKERS:-$(( CORES / 2 > 1 ? CORES / 2 : 1 ))}
MAP_BATCH=${MAP_BATCH:-64}
PRECISION=${PRECISION:-fp32}
DEVICE=${DEVICE:-cuda}
if [ "$DEVICE" = cuda ]; then
  NGPU=$(python -c "import torch; print(torch.cuda.device_count())")
  if [ "$NGPU" -lt 1 ]; then echo "bench/gpu.sh: no CUDA device (torch.cuda.device_count() == 0)" >&2; exit 1; fi
else
  NGPU=${NGPU:-1}
fi
DEV=../shared/data/imagenet-dev/boxes.json
if [ -z "${DATA:-}" ]; then
  if [ -f "$DEV" ]; then DATA="--data $DEV --limit $(( PHOTOS < 80 ? PHOTOS : 80 )) --copies $(( (PHOTOS + 79) / 80 ))"
  else DATA="--data synthetic-jpeg:$PHOTOS --limit $PHOTOS"; fi
fi
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$SCRATCH/gpus.txt" || true
COMMON="--device $DEVICE $DATA --map-batch $MAP_BATCH --precision $PRECISION --stage-photos 64"
echo "== one GPU: serial (0 localiser workers, 0 loader workers), stages and the limit"
CUDA_VISIBLE_DEVICES=0 python bench/study_throughput.py $COMMON --workers 0 --loader-workers 0 --json "$SCRATCH/one-serial.json"
echo "== one GPU: $W localiser workers, $W loader workers"
CUDA_VISIBLE_DEVICES=0 python bench/study_throughput.py $COMMON --workers "$W" --loader-workers "$W" --json "$SCRATCH/one-parallel.json"
if [ "$NGPU" -gt 1 ]; then
  PER=$(( W / NGPU > 1 ? W / NGPU : 1 ))
  echo "== all $NGPU GPUs under torchrun: $PER localiser and $PER loader workers per GPU"
  torchrun --standalone --nproc_per_node "$NGPU" bench/study_throughput.py $COMMON --workers "$PER" \
      --loader-workers "$PER" --scratch "$SCRATCH" --json "$SCRATCH/all-gpus.json"
fi
python - "$SCRATCH" "$OUT" <<'PY'
import json, os, sys
from pathlib import Path
scratch, out = Path(sys.argv[1]), Path(sys.argv[2])
figures = {p.stem: json.loads(p.read_text()) for p in sorted(scratch.glob("*.json"))}
figures["gpus"] = (scratch / "gpus.txt").read_text().strip().splitlines() if (scratch / "gpus.txt").is_file() else []
figures["cores"] = os.cpu_count()
out.write_text(json.dumps(figures, indent=1) + "\n")
for name, f in figures.items():
    if isinstance(f, dict):
        runs = f.get("runs") or [f]
        for r in runs:
            print(f"{name}: {r.get('photos_per_s', 0):.1f} photos/s, 50k photos in {r.get('minutes_for_50k', 0):.1f} min"
                  + (f", {r['times_model_limit']:.1f}x the model limit" if "times_model_limit" in r else ""))
print(f"written: {out}")
PY
