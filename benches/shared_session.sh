#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# `hmg detect --share-model` (one onnxruntime session for every stream) against the default (a
# session per stream, the cores shared out, run in parallel): N copies of the bundled clip,
# `--headless`, the configurations in turns. Total FPS, mean p50 latency and peak RSS, medians.
# With a model whose batch axis is dynamic, the shared session batches the streams' frames into
# one run; a third configuration then runs the same weights with the batch axis fixed at 1
# (frames in turn, what sharing did before batching) beside it.
#   benches/shared_session.sh [streams...]   (default: 1 2 4; ROUNDS=N, default 3; MODEL=…)
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
venv="${HMG_ULTRALYTICS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/hmg/venvs/ultralytics}"

labels=("session per stream" "shared")
models=("$model" "$model")
flags=("" "--share-model")
dynamic=$("$venv/bin/python" - "$model" "$work/static.onnx" <<'PY'
import onnx, sys
m = onnx.load(sys.argv[1])
batch = m.graph.input[0].type.tensor_type.shape.dim[0]
if batch.dim_value > 0:
    print("no")
else:
    # The same weights and graph, the batch axis fixed at 1.
    batch.ClearField("dim_param")
    batch.dim_value = 1
    onnx.save(m, sys.argv[2])
    print("yes")
PY
)
if [ "$dynamic" = yes ]; then
  labels=("session per stream" "shared, batch axis fixed (turns)" "shared, batched")
  models=("$model" "$work/static.onnx" "$model")
  flags=("" "--share-model" "--share-model")
fi

header="| streams |"; rule="| ---: |"
for what in "FPS (total)" "p50" "peak RSS"; do
  for l in "${labels[@]}"; do header="$header $l: $what |"; rule="$rule ---: |"; done
done
echo "$header"; echo "$rule"
for n in "${streams[@]}"; do
  inputs=()
  for _ in $(seq "$n"); do inputs+=(--input "$clip"); done
  : >"$work/rounds-$n"
  for r in $(seq "$rounds"); do
    row=""
    for k in "${!labels[@]}"; do
      rm -rf "$work/out"
      # shellcheck disable=SC2086 # one flag or none
      /usr/bin/time -f "%M" -o "$work/rss" "$hmg" detect --model "${models[$k]}" "${inputs[@]}" --headless \
        --snapshot-interval 0 ${flags[$k]} --output "$work/out" >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
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
  python3 - "$n" "${#labels[@]}" "$work/rounds-$n" <<'PY'
import statistics, sys
n, configs = sys.argv[1], int(sys.argv[2])
rows = [list(map(float, l.split())) for l in open(sys.argv[3]) if l.strip()]
med = lambda i: statistics.median(r[i] for r in rows)
cells = [f"{med(3 * k):.2f}" for k in range(configs)]
cells += [f"{med(3 * k + 1):.1f} ms" for k in range(configs)]
cells += [f"{med(3 * k + 2):.0f} MiB" for k in range(configs)]
print(f"| {n} | " + " | ".join(cells) + " |")
PY
done
