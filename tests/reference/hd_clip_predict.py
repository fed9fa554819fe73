# SPDX-License-Identifier: MIT OR Apache-2.0
"""An HD clip that does not state its colorimetry, and ultralytics' detections on it.

usage: hd_clip_predict.py SOURCE.mp4 MODEL.onnx OUT.mp4 FRAMES
Scales SOURCE's first FRAMES frames to 1280x720 and writes them with OpenCV's MPEG-4 part 2
encoder (which writes no colour description), then runs ultralytics' predict on every frame of
OUT.mp4 as `yolo predict` reads a video (cv2.VideoCapture, FFmpeg's conversion). Prints
`@json {"ultralytics": version, "frames": [[{class_id, confidence, box}, ...], ...]}`.
"""
import json
import sys

import cv2
import ultralytics
from ultralytics import YOLO

source, model_path, out, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
reader = cv2.VideoCapture(source)
writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), 25, (1280, 720))
written = 0
while written < count:
    ok, frame = reader.read()
    if not ok:
        break
    writer.write(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
    written += 1
writer.release()

model = YOLO(model_path, task="detect")
frames = []
clip = cv2.VideoCapture(out)
while True:
    ok, frame = clip.read()
    if not ok:
        break
    result = model.predict(frame, imgsz=640, conf=0.25, iou=0.45, verbose=False)[0]
    frames.append(
        [
            {"class_id": int(c), "confidence": float(s), "box": [float(v) for v in b]}
            for b, s, c in zip(result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist())
        ]
    )
print("@json " + json.dumps({"ultralytics": ultralytics.__version__, "frames": frames}))
