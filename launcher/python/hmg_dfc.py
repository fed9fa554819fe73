# SPDX-License-Identifier: MIT OR Apache-2.0
"""The driver `hmg compile` runs in the user's Hailo Dataflow Compiler venv.

Usage: python -c <this file> '<json arguments>'
parse (ONNX → HAR, cut at the six head end nodes) → the end-node names in hmg's model script and
NMS config are replaced by the parser's layer names and the files rewritten → optimize (quantize
with the calibration set) → compile (HEF bytes to a .part file). Events go to stdout as
`@hmg {json}`; exit 3 with an `error` event when the compiler refuses something.
"""
import json
import os
import sys
import time


def emit(event, **fields):
    sys.stdout.write("@hmg " + json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


def replace_atomically(path, text):
    part = path + ".part"
    with open(part, "w") as f:
        f.write(text)
    os.replace(part, path)


def main(a):
    stage = "parse"
    started = time.time()
    try:
        from hailo_sdk_client import ClientRunner

        emit("stage", name="parse")
        runner = ClientRunner(hw_arch=a["hw_arch"])
        runner.translate_onnx_model(a["onnx"], a["net_name"], end_node_names=a["end_nodes"])
        runner.save_har(a["parsed_har"])
        outputs = [layer.inputs[0].rsplit("/", 1)[-1] for layer in runner.get_hn_model().get_output_layers()]
        if len(outputs) != len(a["end_nodes"]):
            raise RuntimeError(
                f"the parser made {len(outputs)} outputs for {len(a['end_nodes'])} end nodes: {outputs}"
            )
        mapping = dict(zip(a["end_nodes"], outputs))
        emit("layers", mapping=mapping, seconds=time.time() - started)

        def resolve(text):
            # Longest names first: no end node is a prefix of another, but be safe.
            for node in sorted(mapping, key=len, reverse=True):
                text = text.replace(node, mapping[node])
            return text

        script = resolve(open(a["script"]).read())
        replace_atomically(a["script"], script)
        if a.get("nms_config"):
            replace_atomically(a["nms_config"], resolve(open(a["nms_config"]).read()))

        stage = "optimize"
        emit("stage", name="optimize")
        import numpy as np

        runner.load_model_script(script)
        calib = np.load(a["calib"])
        runner.optimize(calib)
        runner.save_har(a["optimized_har"])

        stage = "compile"
        emit("stage", name="compile")
        hef = runner.compile()
        with open(a["hef_part"], "wb") as f:
            f.write(hef)
        emit("done", seconds=time.time() - started, layers=mapping, bytes=len(hef))
        return 0
    except KeyboardInterrupt:
        emit("interrupted", stage=stage)
        return 130
    except Exception as e:  # the compiler's own errors: keep its sentence, name the stage
        emit("error", stage=stage, message=f"{type(e).__name__}: {e}")
        return 3


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
