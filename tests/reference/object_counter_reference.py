#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""The reference line counts for detzone's parity test: ultralytics' own
`solutions.ObjectCounter.count_objects`, fed the tracks of a detlog file (dettrack's boxes and
ids), with each line of a zones file as the counter's line region.

Usage: object_counter_reference.py TRACKS.jsonl ZONES.json OUT.json

ObjectCounter.process would also run a model; only its counting is the reference here, so the
counter is set up with what count_objects reads (its region and counters) and the track history
is kept as BaseSolution.store_tracking_history keeps it (box centres, the last 30).

OUT.json: {"ultralytics": version, "lines": {name: {"in": n, "out": n, "counted":
[{"frame": f, "track_id": t, "direction": "in"|"out"}, ...]}}}
"""
import json
import sys
from collections import defaultdict

import numpy as np
import torch
import ultralytics
from shapely.geometry import LineString, Point
from ultralytics.solutions.object_counter import ObjectCounter


def counter_for(region, names):
    c = ObjectCounter.__new__(ObjectCounter)
    c.region = region
    c.r_s = LineString(region)
    c.LineString, c.Point = LineString, Point
    c.in_count = c.out_count = 0
    c.counted_ids = set()
    c.classwise_count = defaultdict(lambda: {"IN": 0, "OUT": 0})
    c.names = names
    return c


def main(tracks_path, zones_path, out_path):
    frames = [json.loads(line) for line in open(tracks_path)]
    zones = json.load(open(zones_path))
    names = defaultdict(str)
    for f in frames:
        for d in f["detections"]:
            names[d["class_id"]] = d["label"]
    out = {"ultralytics": ultralytics.__version__, "lines": {}}
    for line in zones.get("lines", []):
        w, h = frames[0]["width"], frames[0]["height"]
        region = [(x * w, y * h) for x, y in line["points"]]
        counter = counter_for(region, names)
        history = defaultdict(list)
        counted = []
        for index, f in enumerate(frames):
            for d in f["detections"]:
                track_id = d["track"]["id"]
                box = torch.tensor(d["track"]["box"], dtype=torch.float32)
                track = history[track_id]
                track.append(tuple(box.reshape(-1, 2).mean(dim=0).tolist()))
                if len(track) > 30:
                    track.pop(0)
                prev = track[-2] if len(track) > 1 else None
                before = (counter.in_count, counter.out_count)
                counter.count_objects(track[-1], track_id, prev, d["class_id"])
                if (counter.in_count, counter.out_count) != before:
                    direction = "in" if counter.in_count > before[0] else "out"
                    counted.append({"frame": index, "track_id": track_id, "direction": direction})
        out["lines"][line["name"]] = {
            "in": counter.in_count,
            "out": counter.out_count,
            "counted": counted,
        }
    json.dump(out, open(out_path, "w"))


if __name__ == "__main__":
    main(*sys.argv[1:4])
