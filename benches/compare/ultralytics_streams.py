#!/usr/bin/env python3
"""ultralytics predict on N copies of a clip at once, one process per stream (the way N
hailo_detect_live.py-style scripts run side by side): the reference for benches/detect_streams.sh.

Each process loads the model and warms up, all start together, and each reports its frames and
per-frame latency (ultralytics' own preprocess + inference + postprocess times). Prints one JSON
line: {"streams", "frames", "seconds", "fps", "latency_ms": {"p50", "p90"}}.

usage: ultralytics_streams.py --model M.onnx --source clip.mp4 --streams N [--conf 0.35] [--iou 0.5]
"""
import argparse
import json
import multiprocessing as mp
import statistics
import time


def worker(args, barrier, out):
    from ultralytics import YOLO

    model = YOLO(args.model, task="detect")
    # Warm-up (session creation, first run) outside the timed part, as hmg's does before PLAYING.
    for _ in model.predict(source=args.source, stream=True, conf=args.conf, iou=args.iou, verbose=False, vid_stride=1000):
        pass
    barrier.wait()
    start = time.perf_counter()
    latencies = []
    for r in model.predict(source=args.source, stream=True, conf=args.conf, iou=args.iou, verbose=False):
        latencies.append(sum(r.speed.values()))
    out.put((start, time.perf_counter(), latencies))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--conf", type=float, default=0.35)
    ap.add_argument("--iou", type=float, default=0.5)
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(args.streams), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(args, barrier, out)) for _ in range(args.streams)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    seconds = max(r[1] for r in results) - min(r[0] for r in results)
    latencies = sorted(l for r in results for l in r[2])
    frames = len(latencies)
    print(json.dumps({
        "streams": args.streams,
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 2),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p90": round(latencies[int(0.9 * (frames - 1))], 2),
        },
    }))


if __name__ == "__main__":
    main()
