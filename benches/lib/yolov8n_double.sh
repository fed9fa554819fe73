# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by the Hailo-graph benches (run from the repository root). yolov8n_double OBJECTS builds
# the plugin and the HailoRT test double, and makes $WORK (removed on exit) with the plugin in
# $WORK/plugins and a yolov8n-shaped HEF for the double, $WORK/yolov8n.hef: 640x640 input, the six
# COCO heads (UINT8), every frame the same recorded outputs — all zero with OBJECTS=0 (no object:
# decode cost is the quantized class scan, as in most real frames), else OBJECTS (up to 100)
# objects on the stride-8 head, a 10x10 grid inside the letterboxed picture: each anchor's DFL
# distributions peak at bin 2 (32 px boxes in the model's 640), one class score at 0.9, equal
# classes far apart so that NMS keeps all of them. Sets DOUBLE to the double's library.
yolov8n_double() {
  local objects="$1"
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
    local g
    for g in "80 conv41 conv42" "40 conv52 conv53" "20 conv62 conv63"; do
      set -- $g
      echo "output yolov8n/$2 $1 $1 64 128.0 0.1"
      echo "output yolov8n/$3 $1 $1 80 0.0 0.003921569"
    done
    echo "frame 0000000000000000 outputs.bin"
  } >"$WORK/yolov8n.hef.double"
  python3 - "$WORK/outputs.bin" "$objects" <<'PY'
import sys
objects = int(sys.argv[2])
out = bytearray()
for n in (80, 40, 20):
    box, cls = bytearray([128 if objects else 0]) * (n * n * 64), bytearray(n * n * 80)
    if n == 80:
        for k in range(objects):
            anchor = (20 + (k // 10) * 4) * n + 4 + (k % 10) * 8
            for side in range(4):
                box[anchor * 64 + side * 16 + 2] = 255
            cls[anchor * 80 + k % 80] = 230
    out += box + cls
open(sys.argv[1], "wb").write(out)
PY
}
