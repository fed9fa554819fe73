#!/usr/bin/env bash
# CPU cost of hmg detect --serve's preview at 720p: the bundled clip scaled to 1280x720 at 30 fps,
# decoded and scaled with and without the live view's preview branch (the same elements as
# launcher/src/live/mod.rs: at most 10 pictures a second, at most 640 px wide, JPEG quality 75).
# Prints the preview's CPU time per second of video, in cores. Run from the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
src="filesrc location=media/bikes.mp4 ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=1280,height=720,format=I420 ! videorate ! video/x-raw,framerate=30/1"
preview="videorate drop-only=true max-rate=10 ! videoscale ! videoconvert ! video/x-raw,width=[16,640],format=I420 ! jpegenc quality=75 ! fakesink"
cpu() { # user+sys seconds of one gst-launch run
  /usr/bin/time -f '%U %S' -o /tmp/hmg-live-time gst-launch-1.0 -q $1 >/dev/null
  awk '{print $1+$2}' /tmp/hmg-live-time
}
for run in 1 2 3; do
  base=$(cpu "$src ! fakesink")
  with=$(cpu "$src ! $preview")
  awk -v b="$base" -v e="$with" -v r="$run" \
    'BEGIN{printf "run %d: preview %.3f CPU-s for 10 s of 720p30 = %.3f cores (baseline %.2f CPU-s)\n", r, e-b, (e-b)/10, b}'
done
