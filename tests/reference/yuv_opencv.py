# SPDX-License-Identifier: MIT OR Apache-2.0
"""Real pictures as 4:2:0 frames, and OpenCV's own conversion of those frames back to RGB.

usage: yuv_opencv.py OUT_DIR IMAGE...
For each IMAGE (cropped to even sides): OUT_DIR/NAME.i420 and OUT_DIR/NAME.nv12 (BT.601 limited
range, from cv2.cvtColor's RGB -> YUV_I420), and OpenCV's conversion of each back to packed RGB:
OUT_DIR/NAME.i420.rgb and OUT_DIR/NAME.nv12.rgb (cv2.cvtColor YUV2RGB_I420 / YUV2RGB_NV12).
For a JPEG also OUT_DIR/NAME.imread.rgb: the whole picture as cv2.imread decodes it (libjpeg,
fancy chroma upsampling), which is what ultralytics reads.
Prints `@json {"opencv": version, "images": [{"name", "width", "height", "full_width",
"full_height", "jpeg"}, ...]}` (width and height: the even crop's).
"""
import json
import os
import sys

import cv2
import numpy as np

out_dir = sys.argv[1]
images = []
for path in sys.argv[2:]:
    name = os.path.splitext(os.path.basename(path))[0]
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    jpeg = path.lower().endswith((".jpg", ".jpeg"))
    if jpeg:
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).tofile(os.path.join(out_dir, name + ".imread.rgb"))
    h, w = bgr.shape[0] // 2 * 2, bgr.shape[1] // 2 * 2
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr[:h, :w], cv2.COLOR_BGR2RGB))
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
    luma = i420[:h]
    chroma = i420[h:].reshape(-1)
    u, v = chroma[: h * w // 4], chroma[h * w // 4 :]
    nv12 = np.concatenate([luma.reshape(-1), np.stack([u, v], axis=1).reshape(-1)])
    nv12 = nv12.reshape(h * 3 // 2, w)
    base = os.path.join(out_dir, name)
    i420.tofile(base + ".i420")
    nv12.tofile(base + ".nv12")
    cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420).tofile(base + ".i420.rgb")
    cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12).tofile(base + ".nv12.rgb")
    full_h, full_w = bgr.shape[:2]
    images.append(
        {"name": name, "width": w, "height": h, "full_width": full_w, "full_height": full_h, "jpeg": jpeg}
    )
print("@json " + json.dumps({"opencv": cv2.__version__, "images": images}))
