#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# FPS and latency of `hmg detect --headless` on the bundled clip with 1, 2 and 4 streams, beside
# ultralytics predict on the same model and clip (one process per stream), in the same run.
# usage: benches/detect_streams.sh [streams...]   (default: 1 2 4; creates the ultralytics venv)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${MODEL:-models/yolov12n-coco.onnx}
clip=${CLIP:-media/bikes.mp4}
streams=("${@:-1 2 4}")
read -r -a streams <<<"${streams[*]}"
hmg=target/release/hmg
[ -x "$hmg" ] || cargo build --release --locked -p hmg-launcher
scripts/setup-ultralytics >&2
venv="${HMG_ULTRALYTICS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hmg/venvs/ultralytics}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export YOLO_OFFLINE=1 YOLO_AUTOINSTALL=0 YOLO_CONFIG_DIR="$work/yolo" MPLCONFIGDIR="$work/mpl"

echo "| streams | hmg detect FPS (total) | hmg latency p50 / p90 | ultralytics FPS (total) | ultralytics latency p50 / p90 | hmg ÷ ultralytics FPS |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${streams[@]}"; do
  inputs=()
  for _ in $(seq "$n"); do inputs+=(--input "$clip"); done
  "$hmg" detect --model "$model" "${inputs[@]}" --headless --snapshot-interval 0 \
    --output "$work/hmg-$n" >"$work/hmg-$n.log" 2>&1 || { cat "$work/hmg-$n.log" >&2; exit 1; }
  ours=$(python3 - "$work/hmg-$n"/*/summary.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
frames = sum(x["frames"] for x in s["streams"])
p50 = sum(x["latency_ms"]["p50"] for x in s["streams"]) / len(s["streams"])
p90 = max(x["latency_ms"]["p90"] for x in s["streams"])
print(f'{frames / s["seconds"]:.2f} {p50:.1f} {p90:.1f}')
PY
)
  theirs=$("$venv/bin/python" benches/compare/ultralytics_streams.py --model "$model" --source "$clip" --streams "$n" 2>"$work/ultralytics-$n.log" \
    | tail -n 1 | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["fps"], r["latency_ms"]["p50"], r["latency_ms"]["p90"])')
  read -r fps p50 p90 <<<"$ours"
  read -r ufps up50 up90 <<<"$theirs"
  ratio=$(python3 -c "print(f'{$fps / $ufps:.2f}')")
  echo "| $n | $fps | $p50 / $p90 ms | $ufps | $up50 / $up90 ms | **${ratio}×** |"
done
