#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# FPS and latency of `hmg detect --headless` on the bundled clip with 1, 2 and 4 streams, beside
# ultralytics predict on the same model and clip (one process per stream), in the same run.
# usage: benches/detect_streams.sh [streams...]   (default: 1 2 4; creates the ultralytics venv)
# ROUNDS=N (default 3): each configuration runs N times, alternating hmg and ultralytics; the
# table shows medians (FPS, latencies, and the per-round ratio).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${MODEL:-models/yolov12n-coco.onnx}
clip=${CLIP:-media/bikes.mp4}
streams=("${@:-1 2 4}")
read -r -a streams <<<"${streams[*]}"
. benches/lib/ultralytics_side.sh

rounds=${ROUNDS:-3}
echo "| streams | hmg detect FPS (total) | hmg latency p50 / p90 | ultralytics FPS (total) | ultralytics latency p50 / p90 | hmg ÷ ultralytics FPS |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${streams[@]}"; do
  inputs=()
  for _ in $(seq "$n"); do inputs+=(--input "$clip"); done
  : >"$work/rounds-$n"
  # Rounds alternate hmg and ultralytics, so a slow spell of a shared machine hits both.
  for r in $(seq "$rounds"); do
    rm -rf "$work/hmg-$n"
    "$hmg" detect --model "$model" "${inputs[@]}" --headless --snapshot-interval 0 \
      --output "$work/hmg-$n" >"$work/hmg-$n.log" 2>&1 || { cat "$work/hmg-$n.log" >&2; exit 1; }
    ours=$(python3 - "$work/hmg-$n"/*/summary.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
frames = sum(x["frames"] for x in s["streams"])
p50 = sum(x["latency_ms"]["p50"] for x in s["streams"]) / len(s["streams"])
p90 = max(x["latency_ms"]["p90"] for x in s["streams"])
# Timed like the reference: from the first frame in to the last out (model load and warm-up
# excluded on both sides).
print(f'{frames / s["streaming_seconds"]:.2f} {p50:.1f} {p90:.1f}')
PY
)
    theirs=$("$venv/bin/python" benches/compare/ultralytics_streams.py --model "$model" --source "$clip" --streams "$n" 2>"$work/ultralytics-$n.log" \
      | tail -n 1 | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r["fps"], r["latency_ms"]["p50"], r["latency_ms"]["p90"])')
    echo "$ours $theirs" >>"$work/rounds-$n"
  done
  python3 - "$n" "$work/rounds-$n" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
ratio = statistics.median(r[0] / r[3] for r in rows)
print(f"| {sys.argv[1]} | {med(0):.2f} | {med(1):.1f} / {med(2):.1f} ms | {med(3):.2f} | {med(4):.1f} / {med(5):.1f} ms | **{ratio:.2f}×** |")
PY
done
