#!/usr/bin/env bash
# Device check for coinfer.core.pruning on a CUDA machine: the prune tests (including the GPU test) and
# the masked-vs-plain step benchmark at the paper's full width. Writes under $OUT when set.
set -euo pipefail
OUT=${OUT:-benchmarks/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python -c "import torch, thop; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
PYTHONPATH=. python -m pytest tests/test_prune.py -q -p no:cacheprovider 2>&1 | tail -3
for width in 1 0.125; do
  PYTHONPATH=. python benchmarks/prune_step.py --device cuda --width "$width" --data random --reps 30
  cp benchmarks/out/prune_step.json "$OUT/prune_step_cuda_w$width.json"
done
