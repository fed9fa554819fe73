#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# `hmg detect --share-model` (one onnxruntime session for every stream, frames in turn) against
# the default (a session per stream, the cores shared out, run in parallel): N copies of the
# bundled clip, `--headless`, the two in turns. Total FPS, mean p50 latency and peak RSS, medians.
#   benches/shared_session.sh [streams...]   (default: 1 2 4; ROUNDS=N, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${MODEL:-models/yolov12n-coco.onnx}
clip=${CLIP:-media/bikes.mp4}
streams=("${@:-1 2 4}")
read -r -a streams <<<"${streams[*]}"
hmg=target/release/hmg
[ -x "$hmg" ] || cargo build --release --locked -p hmg-launcher
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rounds=${ROUNDS:-3}
echo "| streams | session per stream: FPS (total) | shared: FPS (total) | per stream: p50 | shared: p50 | per stream: peak RSS | shared: peak RSS |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${streams[@]}"; do
  inputs=()
  for _ in $(seq "$n"); do inputs+=(--input "$clip"); done
  : >"$work/rounds-$n"
  for r in $(seq "$rounds"); do
    row=""
    for share in "" "--share-model"; do
      rm -rf "$work/out"
      # shellcheck disable=SC2086 # $share is one flag or none
      /usr/bin/time -f "%M" -o "$work/rss" "$hmg" detect --model "$model" "${inputs[@]}" --headless \
        --snapshot-interval 0 $share --output "$work/out" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
      row="$row $(python3 - "$work"/out/*/summary.json "$work/rss" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
frames = sum(x["frames"] for x in s["streams"])
p50 = sum(x["latency_ms"]["p50"] for x in s["streams"]) / len(s["streams"])
rss_mib = int(open(sys.argv[2]).read().split()[-1]) / 1024
print(f'{frames / s["streaming_seconds"]:.2f} {p50:.1f} {rss_mib:.0f}')
PY
)"
    done
    echo "$row" >>"$work/rounds-$n"
  done
  python3 - "$n" "$work/rounds-$n" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
print(f"| {sys.argv[1]} | {med(0):.2f} | {med(3):.2f} | {med(1):.1f} ms | {med(4):.1f} ms | {med(2):.0f} MiB | {med(5):.0f} MiB |")
PY
done
