# SPDX-License-Identifier: MIT OR Apache-2.0
"""ultralytics' own verdict on image/label pairs: the check its detect training runs on every
pair before it trains (ultralytics.data.utils.verify_image_label).

usage: verify_labels.py NUM_CLASSES IMAGE LABEL [IMAGE LABEL ...]
Prints `@json {"ultralytics": version, "pairs": [{"image", "corrupt", "missing", "empty",
"boxes", "message"}, ...]}`: corrupt pairs are dropped from training, missing and empty labels
train as background.
"""
import json
import sys

import ultralytics
from ultralytics.data.utils import verify_image_label

num_cls = int(sys.argv[1])
args = sys.argv[2:]
pairs = []
for image, label in zip(args[0::2], args[1::2]):
    _, lb, _, _, _, nm, _, ne, nc, msg = verify_image_label((image, label, "", False, num_cls, 0, 0, False))
    pairs.append(
        {
            "image": image,
            "corrupt": bool(nc),
            "missing": bool(nm),
            "empty": bool(ne),
            "boxes": 0 if lb is None else int(len(lb)),
            "message": msg,
        }
    )
print("@json " + json.dumps({"ultralytics": ultralytics.__version__, "pairs": pairs}))
