# SPDX-License-Identifier: MIT OR Apache-2.0
"""The driver `hmg train`, `hmg export`, `hmg quantize` and `hmg verify-onnx` run in hmg's
ultralytics venv.

Usage: python -c <this file> <command> '<json arguments>'
Events for hmg go to stdout as lines `@hmg {json}`; ultralytics' own log goes to stdout/stderr
as usual and hmg keeps it in a log file. Exit status: 0 done, 3 a user error (message in an
`error` event), 130 interrupted (Ctrl-C).
"""
import json
import os
import shutil
import sys
import time
from pathlib import Path


def emit(event, **fields):
    sys.stdout.write("@hmg " + json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


class UserError(Exception):
    pass


def load_detector(path):
    """A YOLO detection model from a .pt/.yaml, or a UserError that says what it is instead."""
    from ultralytics import YOLO

    p = Path(path)
    if p.suffix == ".pt":
        if not p.is_file():
            raise UserError(f"{p}: no such file")
        try:
            model = YOLO(str(p))
        except Exception as e:  # a truncated or foreign file fails inside torch.load
            raise UserError(f"{p}: not an ultralytics checkpoint ({type(e).__name__}: {e})")
    else:
        try:
            model = YOLO(str(p))
        except Exception as e:
            raise UserError(f"{p}: cannot build a model from it ({type(e).__name__}: {e})")
    if model.task != "detect":
        raise UserError(
            f"{p} is a '{model.task}' model, not an object detector: train from a detection "
            "architecture (yolov8n.yaml) or a detection checkpoint (runs/detect/…/best.pt)"
        )
    return model


def check_data(data):
    from ultralytics.data.utils import check_det_dataset

    try:
        info = check_det_dataset(data, autodownload=False)
    except Exception as e:
        raise UserError(f"{data}: ultralytics cannot load this dataset: {e}")
    return {"names": {int(k): v for k, v in info["names"].items()}, "nc": info["nc"]}


def train(a):
    data = check_data(a["data"])
    resume = a.get("resume")
    model = load_detector(resume or a["model"])
    emit("ready", names=data["names"])

    started = time.time()
    progress = {"pending": None, "last": 0}

    def losses(trainer):
        items = trainer.label_loss_items(trainer.tloss) if trainer.tloss is not None else {}
        return {k.split("/")[-1]: float(v) for k, v in items.items()}

    def on_batch_end(trainer):
        emit(
            "batch",
            epoch=trainer.epoch + 1,
            epochs=trainer.epochs,
            **losses(trainer),
        )

    def on_train_epoch_end(trainer):
        progress["pending"] = trainer.epoch + 1

    def on_fit_epoch_end(trainer):
        # Also called once more by the final validation of best.pt: only epochs are reported.
        epoch, progress["pending"] = progress["pending"], None
        if epoch is None:
            return
        progress["last"] = epoch
        m = trainer.metrics or {}
        emit(
            "epoch",
            epoch=epoch,
            epochs=trainer.epochs,
            **losses(trainer),
            precision=m.get("metrics/precision(B)"),
            recall=m.get("metrics/recall(B)"),
            map50=m.get("metrics/mAP50(B)"),
            map50_95=m.get("metrics/mAP50-95(B)"),
            val_box_loss=m.get("val/box_loss"),
            val_cls_loss=m.get("val/cls_loss"),
            seconds=time.time() - started,
            save_dir=str(trainer.save_dir),
        )

    model.add_callback("on_train_batch_end", on_batch_end)
    model.add_callback("on_train_epoch_end", on_train_epoch_end)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    args = dict(
        data=a["data"],
        epochs=a["epochs"],
        batch=a["batch"],
        imgsz=a["imgsz"],
        patience=a["patience"],
        project=a["project"],
        name=a["name"],
        device=a["device"],
        workers=a["workers"],
        **a.get("overrides", {}),
    )
    try:
        if resume:
            model.train(resume=True, **{k: args[k] for k in ("device", "workers")})
        else:
            model.train(**args)
    except KeyboardInterrupt:
        emit("interrupted")
        return 130
    except AssertionError as e:  # ultralytics reports "nothing to resume" this way
        raise UserError(str(e).strip())
    trainer = model.trainer
    stopper = trainer.stopper
    emit(
        "done",
        save_dir=str(trainer.save_dir),
        best=str(trainer.best),
        last=str(trainer.last),
        epochs=trainer.epochs,
        epochs_run=progress["last"],
        best_epoch=stopper.best_epoch,
        stopped_early=progress["last"] < trainer.epochs,
        seconds=time.time() - started,
        metrics={k: float(v) for k, v in (trainer.metrics or {}).items()},
    )
    return 0


def head_end_nodes(model, graph_names):
    """The six raw-head convolutions (box and class per stride) that Hailo's parser ends at."""
    head = len(model.model.model) - 1
    found = []
    for i in range(len(model.model.model[-1].stride)):
        for branch in ("cv2", "cv3"):
            name = f"/model.{head}/{branch}.{i}/{branch}.{i}.2/Conv"
            match = [n for n in graph_names if n == name or n.endswith("/" + name.lstrip("/"))]
            if not match:
                raise UserError(
                    f"the exported graph has no node {name}: not a YOLOv8-style detection head"
                )
            found.append(match[0])
    return found


def export(a):
    import onnx

    src = Path(a["weights"])
    model = load_detector(str(src))
    out_dir = Path(a["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    # ultralytics writes next to the weights: work on a copy in a scratch folder, then rename.
    scratch = out_dir / f".export-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        tmp_pt = scratch / src.name
        shutil.copy2(src, tmp_pt)
        model = load_detector(str(tmp_pt))
        # Without a size, ultralytics exports at the one the checkpoint was trained at.
        size = {} if a["imgsz"] is None else {"imgsz": a["imgsz"]}
        path = model.export(
            format="onnx",
            opset=a["opset"],
            nms=a["nms"],
            simplify=True,
            dynamic=False,
            **size,
        )
        graph = onnx.load(path)
        input_dims = [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
        names = [n.name for n in graph.graph.node]
        end_nodes = head_end_nodes(model, names)
        outputs = [
            [d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.graph.output
        ]
        target = out_dir / (src.stem + ("_nms" if a["nms"] else "") + ".onnx")
        os.replace(path, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    emit(
        "done",
        onnx=str(target),
        names={int(k): v for k, v in model.names.items()},
        imgsz=input_dims[2:4],
        outputs=outputs,
        end_nodes=end_nodes,
        ultralytics=__import__("ultralytics").__version__,
    )
    return 0


def val(a):
    from ultralytics import YOLO

    check_data(a["data"])
    model = YOLO(a["model"], task="detect")
    m = model.val(
        data=a["data"], imgsz=a["imgsz"], batch=1, device="cpu", plots=False, workers=0
    )
    emit("done", map50=float(m.box.map50), map50_95=float(m.box.map))
    return 0


def inspect(a):
    """Class names, input size, outputs and head end nodes of an exported ONNX (no sidecar)."""
    import ast
    import re

    import onnx

    try:
        m = onnx.load(a["onnx"])
    except Exception as e:
        raise UserError(f"{a['onnx']}: not an ONNX model ({e})")
    meta = {p.key: p.value for p in m.metadata_props}
    names = ast.literal_eval(meta["names"]) if "names" in meta else {}
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    imgsz = ast.literal_eval(meta["imgsz"]) if "imgsz" in meta else dims[2:4]
    ends = {}
    for n in m.graph.node:
        found = re.search(r"/model\.(\d+)/(cv[23])\.(\d+)/\2\.\3\.2/Conv$", n.name)
        if found:
            ends[(int(found.group(3)), found.group(2))] = n.name
    end_nodes = [ends[k] for k in sorted(ends)]
    emit(
        "done",
        names={int(k): v for k, v in names.items()},
        imgsz=list(imgsz),
        end_nodes=end_nodes,
        outputs=[[d.dim_value for d in o.type.tensor_type.shape.dim] for o in m.graph.output],
    )
    return 0


def head_tail(graph):
    """The nodes after the six raw-head convolutions (DFL, box decode, the sigmoid, the final
    concat of pixel boxes with 0..1 scores): the part that int8 would ruin, since one scale
    cannot hold coordinates up to 640 and scores below 1 at once."""
    import re

    ends = [n for n in graph.node if re.search(r"/cv[23]\.\d+/cv[23]\.\d+\.2/Conv$", n.name)]
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    tail, stack = [], [o for n in ends for o in n.output]
    seen = set()
    while stack:
        for n in consumers.get(stack.pop(), []):
            if n.name not in seen:
                seen.add(n.name)
                tail.append(n.name)
                stack.extend(n.output)
    return [n.name for n in ends], tail


def load_calibration(path):
    """hmg calibrate's N×H×W×3 uint8 pictures (hmg checked the header and size); a UserError
    when they carry nothing to calibrate on."""
    import numpy as np

    try:
        calib = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:
        raise UserError(f"{path}: not a NumPy .npy file ({e}); make it with hmg calibrate")
    sample = np.asarray(calib[: min(len(calib), 64)])
    if int(sample.max()) == int(sample.min()):
        raise UserError(
            f"{path}: every picture is one flat colour, nothing to calibrate on; run hmg "
            "calibrate on real pictures"
        )
    return calib


def quantize(a):
    """Static QDQ int8 quantization with onnxruntime's own tool, calibrated on hmg calibrate's
    set (the one Hailo's compiler takes), the head's decode left in float when asked."""
    import numpy as np
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src = a["model"]
    try:
        model = onnx.load(src)
    except Exception as e:
        raise UserError(f"{src}: not an ONNX model ({e})")
    inputs = model.graph.input
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim] if len(inputs) == 1 else []
    if len(dims) != 4 or dims[1] != 3 or 0 in dims[2:]:
        raise UserError(
            f"{src}: hmg quantizes models with one fixed-size 1×3×H×W image input (an hmg export)"
        )
    if inputs[0].type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        raise UserError(f"{src}: the input is not float32; is it quantized already?")
    if any(n.op_type in ("QuantizeLinear", "QLinearConv") for n in model.graph.node):
        raise UserError(f"{src}: the model is quantized already; give its float parent")
    calib = load_calibration(a["calib"])
    emit("calibration", pictures=int(calib.shape[0]))

    class Pictures(CalibrationDataReader):
        def __init__(self):
            self.i = 0

        def get_next(self):
            if self.i >= len(calib):
                return None
            x = np.asarray(calib[self.i], dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
            self.i += 1
            emit("picture", done=self.i, total=int(len(calib)))
            return {inputs[0].name: np.ascontiguousarray(x)}

    out = Path(a["output"])
    pre = out.with_name(out.name + ".pre.onnx")
    try:
        # Shapes only: ORT's graph optimisation here would write CPU-specific (nchwc) nodes
        # into the file, and the model must also run on the Pi's ARM cores.
        quant_pre_process(
            src, str(pre), skip_optimization=True, skip_symbolic_shape=True
        )
        ends, tail = head_tail(onnx.load(str(pre)).graph)
        keep_float = tail if a["float_head"] else []
        methods = {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }
        quantize_static(
            str(pre),
            str(out),
            Pictures(),
            quant_format=QuantFormat.QDQ,
            per_channel=a["per_channel"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[a["method"]],
            nodes_to_exclude=keep_float,
        )
    finally:
        pre.unlink(missing_ok=True)
    quantized = onnx.load(str(out))
    emit(
        "done",
        nodes=len(quantized.graph.node),
        quantize_nodes=sum(n.op_type == "QuantizeLinear" for n in quantized.graph.node),
        head_end_nodes=ends,
        float_nodes=keep_float,
        onnxruntime=__import__("onnxruntime").__version__,
    )
    return 0


COMMANDS = {
    "train": train,
    "export": export,
    "val": val,
    "inspect": inspect,
    "quantize": quantize,
}

if __name__ == "__main__":
    command, args = sys.argv[1], json.loads(sys.argv[2])
    try:
        sys.exit(COMMANDS[command](args))
    except UserError as e:
        emit("error", message=str(e))
        sys.exit(3)
    except KeyboardInterrupt:
        emit("interrupted")
        sys.exit(130)
