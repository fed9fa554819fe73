#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""The reference tracks for dettrack's parity test: ultralytics' own BYTETracker (with its
bytetrack.yaml defaults and the `lap` solver ultralytics uses), fed the detections of a detlog
file frame by frame, in the order the file lists them.

Usage: bytetrack_reference.py DETECTIONS.jsonl OUT.json

OUT.json: {"ultralytics": version, "frames": [[{"detection": i, "track_id": n, "box": [x1, y1,
x2, y2], "score": s, "class_id": c}, ...], ...]}: per frame, the tracks the tracker outputs, each
naming the index of the detection (in the frame's record) it took.
"""
import json
import sys

import numpy as np
import ultralytics
from ultralytics.engine.results import Boxes
from ultralytics.trackers.byte_tracker import BYTETracker
from ultralytics.utils import IterableSimpleNamespace, YAML
from ultralytics.utils.checks import check_yaml


def main(detections_path, out_path):
    args = IterableSimpleNamespace(**YAML.load(check_yaml("bytetrack.yaml")))
    tracker = BYTETracker(args)
    frames = []
    with open(detections_path) as f:
        for line in f:
            record = json.loads(line)
            dets = record["detections"]
            data = np.asarray(
                [[*d["box"], d["confidence"], d["class_id"]] for d in dets], dtype=np.float32
            ).reshape(-1, 6)
            boxes = Boxes(data, (record["height"], record["width"]))
            tracks = tracker.update(boxes)
            frames.append(
                [
                    {
                        "detection": int(t[7]),
                        "track_id": int(t[4]),
                        "box": [float(v) for v in t[:4]],
                        "score": float(t[5]),
                        "class_id": int(t[6]),
                    }
                    for t in tracks
                ]
            )
    with open(out_path, "w") as f:
        json.dump({"ultralytics": ultralytics.__version__, "frames": frames}, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
