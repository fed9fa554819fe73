#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# FPS of `hmg detect --headless` on the bundled clip with a float model and with its int8 model
# (hmg quantize), beside ultralytics predict on the float model, in the same run.
# usage: benches/int8_graph.sh FLOAT.onnx INT8.onnx   (ROUNDS=N, default 3: rounds alternate the
# three runs; the table shows medians and per-round ratios). THREADS=N sets onnxruntime threads
# for hmg (default: hmg's own choice, all cores for one stream).
set -euo pipefail
cd "$(dirname "$0")/.."
float=${1:?usage: benches/int8_graph.sh FLOAT.onnx INT8.onnx}
int8=${2:?usage: benches/int8_graph.sh FLOAT.onnx INT8.onnx}
clip=${CLIP:-media/bikes.mp4}
. benches/lib/ultralytics_side.sh
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")

fps() { # hmg detect's frames per streaming second (model load excluded, as for ultralytics)
  rm -rf "$work/run"
  "$hmg" detect --model "$1" --input "$clip" --headless --snapshot-interval 0 "${threads[@]}" \
    --output "$work/run" >"$work/run.log" 2>&1 || { cat "$work/run.log" >&2; exit 1; }
  python3 - "$work"/run/*/summary.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{sum(x['frames'] for x in s['streams']) / s['streaming_seconds']:.2f}")
PY
}

: >"$work/rounds"
for _ in $(seq "${ROUNDS:-3}"); do
  f=$(fps "$float")
  q=$(fps "$int8")
  u=$("$venv/bin/python" benches/compare/ultralytics_streams.py --model "$float" --source "$clip" --streams 1 2>"$work/ultralytics.log" \
    | tail -n 1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["fps"])')
  echo "$f $q $u" >>"$work/rounds"
done
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "| model | hmg float FPS | hmg int8 FPS | ultralytics (float) FPS | int8 ÷ float | int8 ÷ ultralytics |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
python3 - "$float" "$work/rounds" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
med = lambda f: statistics.median(f(r) for r in rows)
print(f"| {sys.argv[1]} | {med(lambda r: r[0]):.2f} | {med(lambda r: r[1]):.2f} | {med(lambda r: r[2]):.2f} "
      f"| **{med(lambda r: r[1] / r[0]):.2f}×** | **{med(lambda r: r[1] / r[2]):.2f}×** |")
print("per round (int8 ÷ float, int8 ÷ ultralytics): " + ", ".join(f"{r[1] / r[0]:.2f}/{r[1] / r[2]:.2f}" for r in rows))
PY
