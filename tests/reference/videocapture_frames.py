# SPDX-License-Identifier: MIT OR Apache-2.0
"""A 4:2:0 clip and the RGB frames cv2.VideoCapture (FFmpeg's decoder and swscale) reads from it.

usage: videocapture_frames.py SOURCE.mp4 OUT.mp4 OUT.rgb FRAMES
Scales SOURCE's first FRAMES frames to 1280x720 and writes them with OpenCV's MPEG-4 part 2
encoder, then reads OUT.mp4 back as `yolo predict` reads a video and writes every frame, as packed
RGB, one after the other into OUT.rgb. Prints `@json {"frames": n, "width": 1280, "height": 720}`.
"""
import json
import sys

import cv2

source, clip, out, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
reader = cv2.VideoCapture(source)
writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 25, (1280, 720))
for _ in range(count):
    ok, frame = reader.read()
    if not ok:
        break
    writer.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
writer.release()

frames = 0
capture = cv2.VideoCapture(clip)
with open(out, "wb") as rgb:
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        rgb.write(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).tobytes())
        frames += 1
print("@json " + json.dumps({"frames": frames, "width": 1280, "height": 720}))
