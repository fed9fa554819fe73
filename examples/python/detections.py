#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""hmg inside a Python application (PyGObject): build a graph with hailoinfer ! yolonms, read each
frame's detections from the standard GstVideoRegionOfInterestMeta and the raw model outputs from
the HmgTensors custom meta, in a pad probe.

Needs: sudo apt install python3-gi python3-gst-1.0 gir1.2-gst-plugins-base-1.0, and the hmg
plugin where GStreamer finds it (scripts/setup installs it).

usage: detections.py --model models/yolov12n-coco.onnx --input media/bikes.mp4 [--frames N] [--track]
Prints one JSON line per frame: {"frame", "pts_ns", "detections": [...], "tensors": [...]}; with
--track (dettrack in the graph) each detection also has "track": {"id", "age"}.
"""
import argparse
import json
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402


def detections(buffer):
    """hmg numbers a frame's ROI metas 0, 1, 2 …: fetch them by id until one is missing."""
    found = []
    roi_id = 0
    while True:
        meta = GstVideo.buffer_get_video_region_of_interest_meta_id(buffer, roi_id)
        if meta is None:
            return found
        param = meta.get_param("detection")
        if param is not None:
            found.append({
                "class_id": param.get_value("class-id"),
                "label": param.get_value("label"),
                "confidence": param.get_value("confidence"),
                "box": [param.get_value(k) for k in ("x1", "y1", "x2", "y2")],
            })
            # dettrack's track: the same id for the same object from frame to frame.
            track = meta.get_param("tracking")
            if track is not None:
                found[-1]["track"] = {
                    "id": track.get_value("track-id"),
                    "age": track.get_value("age"),
                }
        roi_id += 1


def tensors(buffer):
    """The model outputs hailoinfer attached: name, shape, dtype and byte size of each."""
    meta = buffer.get_custom_meta("HmgTensors")
    if meta is None:
        return []
    structure = meta.get_structure()
    out = []
    for t in structure.get_value("tensors"):
        data = t.get_value("data")
        out.append({
            "name": t.get_value("name"),
            "shape": list(t.get_value("shape")),
            "dtype": t.get_value("dtype"),
            "bytes": data.get_size(),
        })
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--frames", type=int, default=0, help="stop after this many frames (0 = all)")
    ap.add_argument("--log", help="also write detlog JSON lines here, for comparison")
    ap.add_argument("--track", action="store_true", help="track the detections (dettrack)")
    args = ap.parse_args()

    Gst.init(None)
    description = (
        "filesrc name=src ! decodebin ! videoconvert ! hailoinfer name=infer ! yolonms"
        + (" conf=0.1 ! dettrack" if args.track else "")
        + (" ! detlog name=log" if args.log else "")
        + " ! fakesink name=sink sync=false"
    )
    pipeline = Gst.parse_launch(description)
    pipeline.get_by_name("src").set_property("location", args.input)
    pipeline.get_by_name("infer").set_property("model", args.model)
    if args.log:
        pipeline.get_by_name("log").set_property("location", args.log)

    loop = GLib.MainLoop()
    state = {"frame": 0}

    def on_buffer(_pad, info):
        buffer = info.get_buffer()
        print(json.dumps({
            "frame": state["frame"],
            "pts_ns": buffer.pts if buffer.pts != Gst.CLOCK_TIME_NONE else None,
            "detections": detections(buffer),
            "tensors": tensors(buffer),
        }), flush=True)
        state["frame"] += 1
        if args.frames and state["frame"] >= args.frames:
            GLib.idle_add(lambda: pipeline.send_event(Gst.Event.new_eos()) and False)
            return Gst.PadProbeReturn.REMOVE
        return Gst.PadProbeReturn.OK

    sink_pad = pipeline.get_by_name("sink").get_static_pad("sink")
    sink_pad.add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    status = {"code": 0}

    def on_message(_bus, message):
        if message.type == Gst.MessageType.EOS:
            loop.quit()
        elif message.type == Gst.MessageType.ERROR:
            err, _debug = message.parse_error()
            print(f"error: {message.src.get_name()}: {err.message}", file=sys.stderr)
            status["code"] = 1
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    finally:
        pipeline.set_state(Gst.State.NULL)
    return status["code"]


if __name__ == "__main__":
    sys.exit(main())
