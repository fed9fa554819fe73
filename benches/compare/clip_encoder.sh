#!/usr/bin/env bash
# CPU cost of hmg detect --clips' encoder at 720p: the bundled clip scaled to 1280x720 at 30 fps,
# decoded and scaled with and without the clip encoder (the same x264enc settings as
# launcher/src/clips/mod.rs). Prints the encoder's CPU time per second of video, in cores:
# what it takes at 30 fps on this machine. Run from the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
THREADS="${THREADS:-2}"
# The clip's 10 s of real motion, 300 frames at 30 fps.
src="filesrc location=media/bikes.mp4 ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=1280,height=720,format=I420 ! videorate ! video/x-raw,framerate=30/1"
cpu() { # user+sys seconds of one gst-launch run
  /usr/bin/time -f '%U %S' -o /tmp/hmg-enc-time gst-launch-1.0 -q $1 >/dev/null
  awk '{print $1+$2}' /tmp/hmg-enc-time
}
seconds=10
for run in 1 2 3; do
  base=$(cpu "$src ! fakesink")
  enc=$(cpu "$src ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=30 threads=$THREADS ! video/x-h264,stream-format=avc,alignment=au ! fakesink")
  awk -v b="$base" -v e="$enc" -v s="$seconds" -v r="$run" \
    'BEGIN{printf "run %d: encoder %.3f CPU-s for %.0f s of 720p30 = %.2f cores (baseline %.2f CPU-s)\n", r, e-b, s, (e-b)/s, b}'
done
