#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
# Graph overhead on the Hailo path: a 1920x1080 graph `hailoinfer ! yolonms ! detlog` on ONE core
# against the HailoRT test double taking a fixed device time per frame (1 ms ~ yolov8n, 2 ms ~
# yolov8s on a Hailo-8). Prints FPS and the share of the device-bound FPS the graph delivers.
#   benches/hailo_graph.sh [frames]        (default 1000)
#   PROFILE=1 benches/hailo_graph.sh       also records where the host time goes (perf, device 0 ms)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FRAMES="${1:-1000}"
# shellcheck source=benches/lib/yolov8n_double.sh
. benches/lib/yolov8n_double.sh
yolov8n_double 0

run() { # format device_us
  local start end
  start=$(date +%s.%N)
  GST_PLUGIN_PATH="$WORK/plugins" GST_REGISTRY="$WORK/registry.bin" HMG_HAILORT_LIBRARY="$DOUBLE" \
    HAILORT_DOUBLE_FRAME_US="$2" taskset -c 0 gst-launch-1.0 -q \
    videotestsrc num-buffers=1 pattern=smpte ! "video/x-raw,format=$1,width=1920,height=1080" \
    ! imagefreeze num-buffers="$FRAMES" ! hailoinfer hef="$WORK/yolov8n.hef" ! yolonms \
    ! detlog location=/dev/null ! fakesink sync=false
  end=$(date +%s.%N)
  python3 -c "import sys; f=$FRAMES/($end-$start); b=1e6/$2 if $2 else 0; print(f'{sys.argv[1]:5} device {int($2)/1000:.1f} ms  {f:7.1f} FPS' + (f'  = {100*f/b:5.1f} % of device-bound {b:.0f} FPS' if b else '  (host only)'))" "$1"
}
for fmt in RGB BGRx NV12 I420; do
  for us in 0 1000 2000; do run "$fmt" "$us"; done
done

if [ "${PROFILE:-0}" = 1 ]; then
  for fmt in RGB NV12; do
    echo
    echo "where the host time goes, $fmt 1920x1080, device 0 ms (perf, self time):"
    GST_PLUGIN_PATH="$WORK/plugins" GST_REGISTRY="$WORK/registry.bin" HMG_HAILORT_LIBRARY="$DOUBLE" \
      HAILORT_DOUBLE_FRAME_US=0 taskset -c 0 perf record -q -F 4000 -g -o "$WORK/perf.data" \
      gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=smpte \
      ! "video/x-raw,format=$fmt,width=1920,height=1080" ! imagefreeze num-buffers="$FRAMES" \
      ! hailoinfer hef="$WORK/yolov8n.hef" ! yolonms ! detlog location=/dev/null ! fakesink sync=false \
      >/dev/null 2>&1
    perf report -i "$WORK/perf.data" --no-children --stdio --percent-limit 2 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | sed -E 's/ +\[[.k]\] / /' | head -12
  done
fi
