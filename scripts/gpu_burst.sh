#!/usr/bin/env bash
# A GPU burst: continue the shipped image models on a lent GPU for a wall-clock budget each, then
# export them and measure a quick model card, all into $OUT (what comes back from the device).
#
# Here, once:  python scripts/pack_burst_data.py        (training JPEGs + 4 Kodak PNGs in .data/)
# Device call: run(command="bash scripts/gpu_burst.sh", carry=[".data", "results/kodak"], timeout_s=600)
# Back here:   cp $files_at/hyperprior.pt runs/burst/ and measure the full card on CPU:
#              python scripts/model_card.py --name hyperprior --checkpoint runs/burst/hyperprior.pt ...
#
# Settings (environment): MODELS ("hyperprior"), MINUTES of training per model (3; with the build,
# the card and start-up, 2 models x 3 minutes fit a 10-minute call), BATCH (16), PATCH (256),
# ACCEL (auto), CLOCK (wall), THREADS (8), OUT ($OUT, else runs/burst/out), DATA (.data),
# CARD_IMAGES (4), RUNS (runs/burst), PRECISION (auto: bf16-mixed with channels-last weights where
# the device has native bfloat16; or 32-true, bf16-mixed). On CPU with MINUTES=0.05 it is the
# end-to-end test.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
MODELS=${MODELS:-hyperprior}
MINUTES=${MINUTES:-3}
BATCH=${BATCH:-16}
PATCH=${PATCH:-256}
ACCEL=${ACCEL:-auto}
CLOCK=${CLOCK:-wall}
THREADS=${THREADS:-8}
OUT=${OUT:-runs/burst/out}
RUNS=${RUNS:-runs/burst}
CARD_IMAGES=${CARD_IMAGES:-4}
PRECISION=${PRECISION:-auto}
export NEUROCODEC_DATA=${DATA:-${NEUROCODEC_DATA:-.data}}
mkdir -p "$OUT" "$RUNS"

# the C++ coder is built for this machine's Python if the checkout's build does not load here
$PY -c "import neurocodec.entropy._core" 2>/dev/null || $PY setup.py -q build_ext --inplace >"$RUNS/build.log" 2>&1
$PY - <<'PY'
import torch
print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu",
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
HW=$($PY -c "import torch; print(torch.cuda.get_device_name(0) + ' GPU burst' if torch.cuda.is_available() else 'CPU burst')")

for m in $MODELS; do
  start=$(date +%s)
  $PY scripts/train_continue.py "$m" --minutes "$MINUTES" --clock "$CLOCK" --accelerator "$ACCEL" \
      --batch-size "$BATCH" --patch-size "$PATCH" --threads "$THREADS" --runs "$RUNS" --export "$RUNS/$m.pt" \
      --precision "$PRECISION" >"$RUNS/$m-train.log" 2>&1 || { tail -30 "$RUNS/$m-train.log"; exit 1; }
  echo "$m: trained for $(( $(date +%s) - start )) s"
  $PY scripts/model_card.py --name "$m" --checkpoint "$RUNS/$m/version_0/checkpoints/last.ckpt" \
      --config "scripts/train_continue.py $m --minutes $MINUTES --clock $CLOCK --batch-size $BATCH --patch-size $PATCH --precision $PRECISION" \
      --previous-card "checkpoints/$m.json" --dest "$OUT" --eval-out "$OUT" --limit "$CARD_IMAGES" \
      --estimate-images 1 --speed-images 0 --hardware "$HW" >"$RUNS/$m-card.log" 2>&1 \
      || { tail -30 "$RUNS/$m-card.log"; exit 1; }
  $PY - "$OUT/$m.json" "checkpoints/$m.json" <<'PY'
import json, sys
new, old = (json.load(open(p)) for p in sys.argv[1:])
n = new["kodak"]["images"]
bd = new["kodak"]["bd_rate_pct_vs"]
vs = {k.split("/")[0]: v for k, v in bd.items() if k.endswith("/psnr_rgb") and (k.startswith("previous-") or k.startswith("hyperprior/"))}
print(f"{new['codec']}: card on {n} Kodak images; BD-rate PSNR-RGB vs " + ", ".join(f"{k} {v} %" for k, v in vs.items()))
for p in new["kodak"]["points"]:
    print(f"  q{p['quality']}: {p['bpp']:.4f} bpp, {p['psnr_rgb']:.2f} dB, ceiling {new['kodak']['transform_ceiling_psnr_rgb'][str(p['quality'])]:.2f} dB")
PY
done
ls -la "$OUT"
