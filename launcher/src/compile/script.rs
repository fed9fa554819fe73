// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Dataflow Compiler inputs hmg writes and a user can read and reuse: the model script
//! (`.alls`) and the YOLOv8 NMS config, in the forms Hailo's Model Zoo uses (HAILO.md §4.4-4.5).
//! Layers are named by their ONNX end nodes until the parser has run; `hmg compile` then
//! rewrites both files with the parser's layer names (`conv42`…).

use serde_json::{Value, json};

/// Where NMS runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NmsPlace {
    /// In the HEF (`nms_postprocess`; HailoRT runs it, one FLOAT32 output, layout hailo-nms)
    OnChip,
    /// On the host: six raw outputs that yolonms decodes (layout hailo-raw)
    Host,
}

impl NmsPlace {
    /// As written on the command line and in the sidecar beside the HEF.
    pub fn name(self) -> &'static str {
        match self {
            NmsPlace::OnChip => "on-chip",
            NmsPlace::Host => "host",
        }
    }
}

/// What the model is, as far as the compiler cares.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFacts {
    pub names: Vec<String>,
    /// `[height, width]`.
    pub imgsz: [u32; 2],
    /// Box and class end nodes per stride: `[box8, cls8, box16, cls16, box32, cls32]`.
    pub end_nodes: Vec<String>,
}

impl ModelFacts {
    /// YOLOv8 heads: strides 8, 16, 32 for the three (box, class) pairs.
    pub fn strides(&self) -> Vec<u32> {
        (0..self.end_nodes.len() / 2).map(|i| 8 << i).collect()
    }
}

/// The knobs of `hmg compile` that go into the script.
#[derive(Debug, Clone)]
pub struct ScriptOptions {
    pub optimization_level: u8,
    pub compression_level: u8,
    pub calib_batch_size: u32,
    pub calibset_size: usize,
    pub nms: NmsPlace,
    /// The NMS config's path as the script names it.
    pub nms_config: String,
}

/// The model script: input normalization 0..255, sigmoid on the class heads, optional on-chip
/// NMS, optimization flavor and calibration config.
pub fn model_script(facts: &ModelFacts, o: &ScriptOptions, source: &str) -> String {
    let mut s = format!(
        "# Model script for {source} ({} classes, {}x{}), written by hmg compile.\n\
         # Until the parser has run, layers are named by their ONNX end nodes; hmg compile then\n\
         # rewrites them with the parser's names. Edit and pass back with --model-script.\n",
        facts.names.len(),
        facts.imgsz[1],
        facts.imgsz[0]
    );
    s.push_str("normalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])\n");
    for cls in facts.end_nodes.iter().skip(1).step_by(2) {
        s.push_str(&format!("change_output_activation({cls}, sigmoid)\n"));
    }
    if o.nms == NmsPlace::OnChip {
        s.push_str(&format!(
            "nms_postprocess(\"{}\", meta_arch=yolov8, engine=cpu)\n",
            o.nms_config
        ));
        s.push_str("allocator_param(width_splitter_defuse=disabled)\n");
    }
    s.push_str(&format!(
        "model_optimization_flavor(optimization_level={}, compression_level={})\n",
        o.optimization_level, o.compression_level
    ));
    s.push_str(&format!(
        "model_optimization_config(calibration, batch_size={}, calibset_size={})\n",
        o.calib_batch_size, o.calibset_size
    ));
    s
}

/// The YOLOv8 NMS config (Model Zoo `yolov8n_nms_config.json` fields) for this model's classes
/// and input size.
pub fn nms_config(facts: &ModelFacts, score_threshold: f64, iou_threshold: f64) -> Value {
    let decoders: Vec<Value> = facts
        .strides()
        .iter()
        .enumerate()
        .map(|(i, stride)| {
            json!({
                "name": format!("bbox_decoder_{stride}"),
                "stride": stride,
                "reg_layer": facts.end_nodes[2 * i],
                "cls_layer": facts.end_nodes[2 * i + 1],
            })
        })
        .collect();
    json!({
        "nms_scores_th": score_threshold,
        "nms_iou_th": iou_threshold,
        "image_dims": facts.imgsz,
        "max_proposals_per_class": 100,
        "classes": facts.names.len(),
        "regression_length": 16,
        "background_removal": false,
        "background_removal_index": 0,
        "bbox_decoders": decoders,
    })
}

/// A user's script after [`translate_seed_lines`].
#[derive(Debug, Clone, Default)]
pub struct UserScript {
    pub text: String,
    /// One note per changed line.
    pub notes: Vec<String>,
    /// The seed's `batch_size(N)`: the inference batch (HailoRT's, not the calibration's).
    pub inference_batch: Option<u32>,
}

/// A user's script with the seed's unverified lines (HAILO.md §4.5) turned into the forms the
/// compiler documents. The seed's `batch_size(N)` is its inference batch ("1 for real-time
/// inference"): it is taken out of the script and returned.
pub fn translate_seed_lines(text: &str, o: &ScriptOptions) -> UserScript {
    let mut user = UserScript::default();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        let number = |inner: &str| -> Option<String> {
            t.strip_prefix(inner)?
                .strip_prefix('(')?
                .strip_suffix(')')
                .map(|v| v.trim().to_string())
        };
        if t == "enable_loose_mode" {
            user.notes.push(format!(
                "line {}: enable_loose_mode is not documented compiler syntax; left out",
                n + 1
            ));
            user.text.push_str(&format!(
                "# {t}  (left out by hmg: not documented syntax)\n"
            ));
        } else if let Some(level) = number("optimization_level") {
            let new = format!(
                "model_optimization_flavor(optimization_level={level}, compression_level={})",
                o.compression_level
            );
            user.notes.push(format!("line {}: {t} → {new}", n + 1));
            user.text.push_str(&new);
            user.text.push('\n');
        } else if let Some(batch) = number("batch_size")
            && let Ok(batch) = batch.parse::<u32>()
        {
            user.notes.push(format!(
                "line {}: {t} is the inference batch: HailoRT uses {batch} frame(s) per inference when it loads the HEF (kept beside it)",
                n + 1
            ));
            user.text.push_str(&format!(
                "# {t}  (hmg: the inference batch, kept beside the HEF)\n"
            ));
            user.inference_batch = Some(batch);
        } else {
            user.text.push_str(line);
            user.text.push('\n');
        }
    }
    user
}

/// What a model-script line sets: its command and, for commands aimed at a layer or a
/// parameter, that target. `change_output_activation(conv42, sigmoid)` → `change_output_activation
/// conv42`; `model_optimization_flavor(optimization_level=0)` → `model_optimization_flavor
/// optimization_level`; `normalization1 = normalization([…])` → `normalization`.
fn line_key(line: &str) -> Option<String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let open = t.find('(')?;
    let head = &t[..open];
    let command = head.rsplit('=').next().unwrap_or(head).trim();
    let first = t[open + 1..].split([',', ')']).next().unwrap_or("").trim();
    let target = if first.starts_with(['[', '"', '\'']) {
        ""
    } else {
        first.split('=').next().unwrap_or("").trim()
    };
    Some(format!("{command} {target}").trim_end().to_string())
}

/// hmg's script with the user's lines merged in: a user line that sets what one of ours sets
/// replaces it in place; the others follow. Returns the script and a note per replacement.
pub fn merge_scripts(ours: &str, theirs: &str, theirs_name: &str) -> (String, Vec<String>) {
    let their_keys: Vec<(Option<String>, &str)> =
        theirs.lines().map(|l| (line_key(l), l)).collect();
    let mut used = vec![false; their_keys.len()];
    let mut out = String::new();
    let mut notes = Vec::new();
    for line in ours.lines() {
        let replacement = line_key(line).and_then(|k| {
            their_keys
                .iter()
                .position(|(tk, _)| tk.as_deref() == Some(k.as_str()))
        });
        match replacement {
            Some(i) => {
                // Every user line with this key, in their order (the last one wins in the DFC).
                for (j, (tk, l)) in their_keys.iter().enumerate() {
                    if tk == &their_keys[i].0 && !used[j] {
                        used[j] = true;
                        out.push_str(l.trim());
                        out.push('\n');
                    }
                }
                notes.push(format!(
                    "{theirs_name}: `{}` replaces hmg's `{}`",
                    their_keys[i].1.trim(),
                    line.trim()
                ));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let rest: Vec<&str> = their_keys
        .iter()
        .zip(&used)
        .filter(|((_, l), used)| !**used && !l.trim().is_empty())
        .map(|((_, l), _)| *l)
        .collect();
    if !rest.is_empty() {
        out.push_str(&format!("# from {theirs_name}:\n"));
        for l in rest {
            out.push_str(l);
            out.push('\n');
        }
    }
    (out, notes)
}

/// The optimization level a script asks for (the last `optimization_level=N`).
pub fn script_optimization_level(script: &str) -> Option<u8> {
    script
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let rest = &l[l.find("optimization_level=")? + "optimization_level=".len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yolov8n(nc: usize) -> ModelFacts {
        let end_nodes = (0..3)
            .flat_map(|i| ["cv2", "cv3"].map(|b| format!("/model.22/{b}.{i}/{b}.{i}.2/Conv")))
            .collect();
        ModelFacts {
            names: (0..nc).map(|i| format!("c{i}")).collect(),
            imgsz: [640, 640],
            end_nodes,
        }
    }

    fn options(nms: NmsPlace) -> ScriptOptions {
        ScriptOptions {
            optimization_level: 2,
            compression_level: 0,
            calib_batch_size: 8,
            calibset_size: 1024,
            nms,
            nms_config: "m.nms.json".into(),
        }
    }

    #[test]
    fn nms_config_matches_the_model_zoo_reference_field_by_field() {
        // HAILO.md §4.4: Model Zoo yolov8n_nms_config.json (v2.17) for COCO.
        let c = nms_config(&yolov8n(80), 0.2, 0.7);
        assert_eq!(c["nms_scores_th"], 0.2);
        assert_eq!(c["nms_iou_th"], 0.7);
        assert_eq!(c["image_dims"], json!([640, 640]));
        assert_eq!(c["max_proposals_per_class"], 100);
        assert_eq!(c["classes"], 80);
        assert_eq!(c["regression_length"], 16);
        assert_eq!(c["background_removal"], false);
        let d = c["bbox_decoders"].as_array().unwrap();
        assert_eq!(
            d.iter()
                .map(|d| d["stride"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [8, 16, 32]
        );
        assert_eq!(d[0]["reg_layer"], "/model.22/cv2.0/cv2.0.2/Conv");
        assert_eq!(d[0]["cls_layer"], "/model.22/cv3.0/cv3.0.2/Conv");
        assert_eq!(d[2]["reg_layer"], "/model.22/cv2.2/cv2.2.2/Conv");
        assert_eq!(nms_config(&yolov8n(2), 0.2, 0.7)["classes"], 2);
        let mut wide = yolov8n(2);
        wide.imgsz = [480, 640];
        assert_eq!(nms_config(&wide, 0.2, 0.7)["image_dims"], json!([480, 640]));
    }

    #[test]
    fn script_has_the_model_zoo_lines() {
        let s = model_script(&yolov8n(2), &options(NmsPlace::OnChip), "best.onnx");
        let lines: Vec<&str> = s.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines[0],
            "normalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])"
        );
        assert_eq!(
            lines[1],
            "change_output_activation(/model.22/cv3.0/cv3.0.2/Conv, sigmoid)"
        );
        assert_eq!(
            lines[3],
            "change_output_activation(/model.22/cv3.2/cv3.2.2/Conv, sigmoid)"
        );
        assert_eq!(
            lines[4],
            "nms_postprocess(\"m.nms.json\", meta_arch=yolov8, engine=cpu)"
        );
        assert!(
            lines.contains(&"model_optimization_flavor(optimization_level=2, compression_level=0)")
        );
        assert!(
            lines.contains(
                &"model_optimization_config(calibration, batch_size=8, calibset_size=1024)"
            )
        );
        let host = model_script(&yolov8n(2), &options(NmsPlace::Host), "best.onnx");
        assert!(!host.contains("nms_postprocess") && host.contains("sigmoid"));
    }

    #[test]
    fn the_seeds_lines_become_documented_ones() {
        let seed = "# seed\nenable_loose_mode\noptimization_level(0)\nbatch_size(4)\n";
        let u = translate_seed_lines(seed, &options(NmsPlace::Host));
        assert_eq!(u.notes.len(), 3, "{:?}", u.notes);
        assert!(u.text.contains("# enable_loose_mode"));
        assert!(
            u.text
                .contains("model_optimization_flavor(optimization_level=0, compression_level=0)")
        );
        assert_eq!(u.inference_batch, Some(4));
        assert!(!u.text.contains("model_optimization_config"), "{}", u.text);
    }

    #[test]
    fn the_users_lines_merge_into_ours_theirs_winning() {
        let ours = model_script(&yolov8n(2), &options(NmsPlace::OnChip), "best.onnx");
        let seed = "enable_loose_mode\noptimization_level(0)\nbatch_size(1)\n";
        let u = translate_seed_lines(seed, &options(NmsPlace::OnChip));
        let theirs = format!(
            "{}change_output_activation(/model.22/cv3.1/cv3.1.2/Conv, linear)\nquantization_param(conv1, precision_mode=a16_w16)\n",
            u.text
        );
        let (merged, notes) = merge_scripts(&ours, &theirs, "seed.mscript");
        // Ours kept: normalization, the other sigmoids, NMS, calibration config.
        assert!(
            merged.contains("normalization1 = normalization("),
            "{merged}"
        );
        assert!(
            merged.contains("nms_postprocess(")
                && merged.contains("model_optimization_config(calibration, batch_size=8"),
            "{merged}"
        );
        assert!(merged.contains("change_output_activation(/model.22/cv3.0/cv3.0.2/Conv, sigmoid)"));
        // Theirs won where both set the same thing, in our place.
        assert!(merged.contains("change_output_activation(/model.22/cv3.1/cv3.1.2/Conv, linear)"));
        assert!(
            !merged.contains("change_output_activation(/model.22/cv3.1/cv3.1.2/Conv, sigmoid)")
        );
        assert_eq!(
            merged.matches("model_optimization_flavor(").count(),
            1,
            "{merged}"
        );
        assert_eq!(script_optimization_level(&merged), Some(0));
        // Theirs alone follow.
        assert!(merged.contains("# from seed.mscript:\n"), "{merged}");
        assert!(merged.contains("quantization_param(conv1, precision_mode=a16_w16)"));
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn line_keys() {
        assert_eq!(
            line_key("normalization1 = normalization([0.0], [255.0])").unwrap(),
            "normalization"
        );
        assert_eq!(
            line_key("change_output_activation(conv42, sigmoid)").unwrap(),
            "change_output_activation conv42"
        );
        assert_eq!(
            line_key("model_optimization_flavor(optimization_level=2, compression_level=0)")
                .unwrap(),
            "model_optimization_flavor optimization_level"
        );
        assert_eq!(
            line_key("nms_postprocess(\"a.json\", meta_arch=yolov8)").unwrap(),
            "nms_postprocess"
        );
        assert_eq!(line_key("# comment"), None);
        assert_eq!(line_key("enable_loose_mode"), None);
    }
}
