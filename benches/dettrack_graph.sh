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
# shellcheck source=benches/lib/yolov8n_double.sh
. benches/lib/yolov8n_double.sh
yolov8n_double 100

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
