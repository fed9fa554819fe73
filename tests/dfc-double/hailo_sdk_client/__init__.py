# SPDX-License-Identifier: MIT OR Apache-2.0
"""TEST DOUBLE of Hailo's hailo_sdk_client (see ../README.md). Not the Dataflow Compiler."""
import json
import os
import re
import struct
import zlib

__version__ = "3.33.0-test-double"

ARCHS = {"hailo8": 1, "hailo8l": 3, "hailo8r": 2}
COMMANDS = {
    "normalization", "change_output_activation", "nms_postprocess", "model_optimization_flavor",
    "model_optimization_config", "allocator_param", "quantization_param",
    "post_quantization_optimization", "performance_param", "resources_param",
}


class HailoDoubleError(Exception):
    pass


def _fail(stage):
    if os.environ.get("HMG_DFC_DOUBLE_FAIL") == stage:
        raise HailoDoubleError(f"[test double] injected failure in {stage}: "
                               "Calibration failed: not enough memory to run the optimization")


class _Layer:
    def __init__(self, name):
        self.inputs = [name]


class _HnModel:
    def __init__(self, outputs):
        self._outputs = outputs

    def get_output_layers(self):
        return [_Layer(o) for o in self._outputs]


class ClientRunner:
    def __init__(self, hw_arch="hailo8", har=None):
        if hw_arch not in ARCHS:
            raise HailoDoubleError(f"Unsupported hw_arch {hw_arch}")
        self.hw_arch = hw_arch
        self.outputs = []
        self.script = None
        self.calib = None
        self.nc = None
        self.input_hw = None

    def translate_onnx_model(self, model, net_name, end_node_names=None, **_):
        _fail("parse")
        import onnx

        graph = onnx.load(model).graph
        nodes = [n for n in graph.node]
        names = [n.name for n in nodes]
        missing = [e for e in end_node_names or [] if e not in names]
        if missing:
            raise HailoDoubleError(f"Unable to find end node names: {missing}")
        convs = [n.name for n in nodes if n.op_type == "Conv"]
        # Layer names like the real parser's: convN, N counting convolutions in graph order.
        self.outputs = [f"{net_name}/conv{convs.index(e) + 1}" for e in end_node_names]
        dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
        self.input_hw = (dims[2], dims[3])
        out = [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
        self.nc = out[1] - 4
        self.net_name = net_name

    def get_hn_model(self):
        return _HnModel(self.outputs)

    def save_har(self, path):
        with open(path, "w") as f:
            json.dump({"double": True, "outputs": self.outputs, "script": self.script}, f)

    def load_model_script(self, script, append=False):
        if os.path.isfile(script):
            script = open(script).read()
        layers = {o.rsplit("/", 1)[-1] for o in self.outputs}
        for n, raw in enumerate(script.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"^(?:\w+\s*=\s*)?(\w+)\((.*)\)$", line)
            if not m or m.group(1) not in COMMANDS:
                raise HailoDoubleError(f"Model script line {n}: unsupported command: {line}")
            command, body = m.groups()
            if command == "change_output_activation":
                layer = body.split(",")[0].strip()
                if layer not in layers:
                    raise HailoDoubleError(f"Model script line {n}: no layer {layer}")
            if command == "nms_postprocess":
                path = body.split(",")[0].strip().strip('"')
                config = json.load(open(path))
                if config["classes"] != self.nc:
                    raise HailoDoubleError(f"NMS config classes {config['classes']} != model {self.nc}")
                if list(config["image_dims"]) != list(self.input_hw):
                    raise HailoDoubleError(f"NMS config image_dims {config['image_dims']} != {self.input_hw}")
                for d in config["bbox_decoders"]:
                    for key in ("reg_layer", "cls_layer"):
                        if d[key] not in layers:
                            raise HailoDoubleError(f"NMS config {key} {d[key]} is not a layer")
            if command == "model_optimization_flavor":
                level = int(re.search(r"optimization_level=(-?\d+)", body).group(1))
                if level not in range(0, 5):
                    raise HailoDoubleError(f"optimization_level {level} out of range")
        self.script = script

    def optimize(self, calib):
        _fail("optimize")
        import numpy as np

        if not isinstance(calib, np.ndarray) or calib.ndim != 4 or calib.shape[3] != 3:
            raise HailoDoubleError(f"calibration set must be NHWC RGB, got {getattr(calib, 'shape', type(calib))}")
        if tuple(calib.shape[1:3]) != tuple(self.input_hw):
            raise HailoDoubleError(f"calibration pictures {calib.shape[1:3]} != input {self.input_hw}")
        if self.script is None:
            raise HailoDoubleError("optimize before load_model_script")
        self.calib = calib.shape

    def compile(self):
        _fail("compile")
        if self.calib is None:
            raise HailoDoubleError("compile before optimize")
        version = b"3.33.0"
        inner = bytes([0x08, ARCHS[self.hw_arch], 0x1A, len(version)]) + version
        proto = bytes([0x0A, len(inner)]) + inner
        # The network section of a real HEF is megabytes; ultralytics refuses exports under 0.1 MB.
        body = json.dumps({"double": True, "outputs": self.outputs}).encode().ljust(200_000, b"\0")
        # Header v1 (as DFC 3.2x writes): CRC-32 of everything after the header, which HailoRT
        # and hmg check (zlib's CRC-32 is HailoRT's; v2's XXH3 has no standard-library module).
        rest = proto + body
        header = struct.pack(">IIII", 0x01484546, 1, len(proto), zlib.crc32(rest))
        header += struct.pack(">QI", len(body), 0)
        return header + rest
