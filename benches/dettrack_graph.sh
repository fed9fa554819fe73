#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# What `dettrack` adds to a whole graph's host time with 100 objects in every frame: the 1080p
# Hailo graph `hailoinfer ! yolonms ! X ! fakesink` on ONE core, against the HailoRT test double
# answering 0 ms per frame with heads that decode to 100 objects; X is `identity` or `dettrack`,
# run in turns, CPU time per frame by getrusage. Prints the medians and the share dettrack adds.
#   benches/dettrack_graph.sh [frames] [rounds]     (defaults 1000, 5)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FRAMES="${1:-1000}"
ROUNDS="${2:-5}"
cargo build --release --locked -p gst-hmg -p hailort-double --features gst-hmg/hailo >/dev/null 2>&1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp target/release/libgsthmg.so "$WORK/plugins/"
DOUBLE="$(ls -t target/release/build/hailort-double-*/out/libhailort_double.so | head -1)"

cp tests/fixtures/hailo/nudenet320.hef "$WORK/yolov8n.hef"
{
  echo "network yolov8n"
  echo "input yolov8n/input_layer1 640 640 3"
  for g in "80 conv41 conv42" "40 conv52 conv53" "20 conv62 conv63"; do
    set -- $g
    echo "output yolov8n/$2 $1 $1 64 128.0 0.1"
    echo "output yolov8n/$3 $1 $1 80 0.0 0.003921569"
  done
  echo "frame 0000000000000000 objects.bin"
} >"$WORK/yolov8n.hef.double"
# 100 objects on the stride-8 head, a 10x10 grid inside the letterboxed picture: each anchor's
# DFL distributions peak at bin 2 (32 px boxes in the model's 640), one class score at 0.9,
# equal classes far apart so that NMS keeps all of them.
python3 - "$WORK/objects.bin" <<'PY'
import sys
out = bytearray()
for n in (80, 40, 20):
    box, cls = bytearray([128]) * (n * n * 64), bytearray(n * n * 80)
    if n == 80:
        for k in range(100):
            anchor = (20 + (k // 10) * 4) * n + 4 + (k % 10) * 8
            for side in range(4):
                box[anchor * 64 + side * 16 + 2] = 255
            cls[anchor * 80 + k % 80] = 230
    out += box + cls
open(sys.argv[1], "wb").write(out)
PY

GST_PLUGIN_PATH="$WORK/plugins" GST_REGISTRY="$WORK/registry.bin" HMG_HAILORT_LIBRARY="$DOUBLE" \
  HAILORT_DOUBLE_FRAME_US=0 WORK="$WORK" FRAMES="$FRAMES" ROUNDS="$ROUNDS" python3 - <<'PY'
import json, os, resource, statistics, subprocess
work, frames, rounds = os.environ["WORK"], int(os.environ["FRAMES"]), int(os.environ["ROUNDS"])
def graph(element, log=None):
    tail = ["!", "detlog", f"location={log}"] if log else []
    return ["taskset", "-c", "0", "gst-launch-1.0", "-q", "videotestsrc", "num-buffers=1", "!",
            "video/x-raw,format=NV12,width=1920,height=1080", "!", "imagefreeze",
            f"num-buffers={frames if not log else 3}", "!", "hailoinfer", f"hef={work}/yolov8n.hef",
            "!", "yolonms", "!", element, *tail, "!", "fakesink", "sync=false"]
# The frame really holds 100 objects, every one of them tracked.
subprocess.run(graph("dettrack", f"{work}/log.jsonl"), check=True)
last = json.loads(open(f"{work}/log.jsonl").read().splitlines()[-1])
tracked = sum("track" in d for d in last["detections"])
print(f"objects per frame: {len(last['detections'])}, tracked: {tracked}")
def cpu_ms(element):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(graph(element), check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 1000 * used / frames
times = {"identity": [], "dettrack": []}
for _ in range(rounds):
    for element in times:
        times[element].append(cpu_ms(element))
base, with_track = (statistics.median(times[e]) for e in ("identity", "dettrack"))
print(f"graph without dettrack: {base:.3f} ms CPU per frame (median of {rounds})")
print(f"graph with dettrack:    {with_track:.3f} ms CPU per frame")
print(f"dettrack adds {with_track - base:.3f} ms = {100 * (with_track - base) / base:.1f} % of the graph's host time")
PY
