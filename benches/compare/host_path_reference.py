#!/usr/bin/env python3
"""Reference timings for the host path, to compare side by side with `cargo bench -p hmg-detect`.

Measures, single-threaded, on the same 1920x1080 frame content the Rust bench uses (astronaut.png tiled):
  - cv2 letterbox (resize INTER_LINEAR + copyMakeBorder 114), what ultralytics' LetterBox does
  - ultralytics' own preprocess (LetterBox + BGR->RGB + CHW + /255) and postprocess
    (non_max_suppression + scale_boxes) on a real (1, 84, 8400) output, when ultralytics is installed

usage: python3 benches/compare/host_path_reference.py [--model models/yolov12n-coco.onnx] [--testdata ../shared/testdata]
"""
import argparse
import statistics
import time

import cv2
import numpy as np


def timeit(fn, n=50):
    fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/yolov12n-coco.onnx")
    ap.add_argument("--testdata", default="../shared/testdata")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    tile = cv2.imread(f"{a.testdata}/images/astronaut.png")
    frame = np.tile(tile, (3, 4, 1))[:1080, :1920].copy()

    def cv2_letterbox():
        r = min(640 / 1080, 640 / 1920)
        nw, nh = round(1920 * r), round(1080 * r)
        im = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        dh = (640 - nh) / 2
        return cv2.copyMakeBorder(im, round(dh - 0.1), round(dh + 0.1), 0, 0, cv2.BORDER_CONSTANT, value=(114, 114, 114))

    print(f"cv2 letterbox 1920x1080->640: {timeit(cv2_letterbox):.3f} ms")
    try:
        import torch
        from ultralytics.data.augment import LetterBox
        from ultralytics.utils import ops
    except ImportError:
        print("ultralytics not installed: skipping its pre/post timings")
        return
    torch.set_num_threads(1)
    lb = LetterBox((640, 640), auto=False, stride=32)

    def ul_pre():
        im = lb(image=frame)
        im = im[..., ::-1].transpose(2, 0, 1)[None]
        return torch.from_numpy(np.ascontiguousarray(im)).float() / 255.0

    import onnxruntime as ort
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    x = ul_pre().numpy()
    out = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x})[0])

    def ul_post():
        p = ops.non_max_suppression(out, 0.25, 0.45, max_det=300)[0]
        p[:, :4] = ops.scale_boxes((640, 640), p[:, :4], frame.shape)
        return p

    print(f"ultralytics preprocess 1920x1080: {timeit(ul_pre):.3f} ms")
    print(f"ultralytics postprocess (1,84,8400): {timeit(ul_post):.3f} ms  ({len(ul_post())} detections)")


if __name__ == "__main__":
    main()
