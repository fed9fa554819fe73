// SPDX-License-Identifier: MIT OR Apache-2.0
//! Our mAP (hmg_detect::metrics, used by detverify and hmg verify-onnx) against ultralytics' own
//! `match_predictions` + `ap_per_class` on the same random predictions and labels.

use hmg_detect::metrics::{ApAccumulator, Truth};
use hmg_e2e::*;
use serde_json::json;

#[test]
fn test_map_equals_ultralytics_on_random_frames() {
    let dir = temp_dir("metrics-parity");
    let mut rng = Lcg(42);
    let mut acc = ApAccumulator::new();
    let mut frames = Vec::new();
    for _ in 0..60 {
        let mut truths = Vec::new();
        let mut preds = Vec::new();
        for _ in 0..(rng.unit() * 6.0) as usize {
            let (x, y) = (rng.unit() * 500.0, rng.unit() * 300.0);
            let (w, h) = (20.0 + rng.unit() * 100.0, 20.0 + rng.unit() * 100.0);
            let class_id = (rng.unit() * 3.0) as u32;
            truths.push(Truth {
                class_id,
                bbox: [x, y, x + w, y + h],
            });
            // Zero to two predictions near each label, sometimes of the wrong class.
            for _ in 0..(rng.unit() * 3.0) as usize {
                let j = |r: &mut Lcg| (r.unit() - 0.5) * 0.4;
                let c = if rng.unit() < 0.15 {
                    (class_id + 1) % 3
                } else {
                    class_id
                };
                let b = [
                    x + w * j(&mut rng),
                    y + h * j(&mut rng),
                    x + w + w * j(&mut rng),
                    y + h + h * j(&mut rng),
                ];
                preds.push((c, 0.01 + rng.unit() * 0.98, b));
            }
        }
        for _ in 0..(rng.unit() * 3.0) as usize {
            let (x, y) = (rng.unit() * 500.0, rng.unit() * 300.0);
            preds.push((
                (rng.unit() * 3.0) as u32,
                rng.unit() * 0.6,
                [x, y, x + 40.0, y + 30.0],
            ));
        }
        acc.add_frame(&preds, &truths);
        frames.push(json!({
            "preds": preds.iter().map(|(c, s, b)| json!([c, s, b[0], b[1], b[2], b[3]])).collect::<Vec<_>>(),
            "truths": truths.iter().map(|t| json!([t.class_id, t.bbox[0], t.bbox[1], t.bbox[2], t.bbox[3]])).collect::<Vec<_>>(),
        }));
    }
    let ours = acc.finish();
    let input = dir.join("frames.json");
    std::fs::write(&input, serde_json::to_string(&frames).unwrap()).unwrap();
    let script = r#"
import json, sys
import numpy as np, torch
from ultralytics.models.yolo.detect import DetectionValidator
from ultralytics.utils.metrics import ap_per_class, box_iou
v = DetectionValidator()
v.iouv = torch.linspace(0.5, 0.95, 10)
tps, confs, pcls, tcls = [], [], [], []
for f in json.load(open(sys.argv[1])):
    p = torch.tensor(f["preds"], dtype=torch.float32).reshape(-1, 6)
    t = torch.tensor(f["truths"], dtype=torch.float32).reshape(-1, 5)
    p = p[p[:, 1].argsort(descending=True, stable=True)]
    tcls.append(t[:, 0].numpy())
    if len(p) == 0:
        continue
    if len(t) == 0:
        tps.append(np.zeros((len(p), 10), dtype=bool))
    else:
        tps.append(v.match_predictions(p[:, 0], t[:, 0], box_iou(t[:, 1:], p[:, 2:])))
    confs.append(p[:, 1].numpy()); pcls.append(p[:, 0].numpy())
r = ap_per_class(np.concatenate(tps), np.concatenate(confs), np.concatenate(pcls), np.concatenate(tcls))
ap = r[5]
print("@json", json.dumps({"map50": float(ap[:, 0].mean()), "map": float(ap.mean())}))
"#;
    let theirs = python_json(&dir, script, &[input.as_os_str()]);
    let (m50, m) = (
        theirs["map50"].as_f64().unwrap(),
        theirs["map"].as_f64().unwrap(),
    );
    assert!(
        m50 > 0.2 && m50 < 0.99,
        "a test with something to get wrong: {m50}"
    );
    assert!(
        (ours.map50 - m50).abs() < 1e-6,
        "mAP50 ours {} ultralytics {m50}",
        ours.map50
    );
    assert!(
        (ours.map50_95 - m).abs() < 1e-6,
        "mAP50-95 ours {} ultralytics {m}",
        ours.map50_95
    );
}
