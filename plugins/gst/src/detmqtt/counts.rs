// SPDX-License-Identifier: MIT OR Apache-2.0
//! The retained messages made from detzone's counts: a state topic per line or zone and class,
//! and, when asked for, Home Assistant MQTT discovery configs that turn each into sensors.
//!
//! - `<base>/counts/lines/<line>/<class>`: `{"in": n, "out": n}`
//! - `<base>/counts/zones/<zone>/<class>`: `{"inside": n, "entered": n}`
//! - `<prefix>/sensor/hmg_<device>_<stream>/<kind>_<name>_<class>_<value>/config`: a sensor per
//!   value, reading its state topic with `value_template`.
//!
//! `<base>` is the location's topic without its last level (`hmg/pi/door/detections` →
//! `hmg/pi/door`), so counts sit beside the detections or events of the same stream.

use hmg_detect::zones::Counts;
use serde_json::json;

/// A topic level made only of characters every MQTT and Home Assistant name accepts.
pub fn topic_level(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The topic counts hang under, from the location's topic.
pub fn counts_base(topic: &str) -> String {
    match topic.rsplit_once('/') {
        Some((parent, _)) if !parent.is_empty() => format!("{parent}/counts"),
        _ => "counts".to_string(),
    }
}

/// Who publishes: Home Assistant's device.
pub struct Origin<'a> {
    pub device: &'a str,
    pub stream: &'a str,
}

/// (topic, payload) of each count's state.
pub fn state_messages(base: &str, counts: &Counts) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (line, by_label) in &counts.lines {
        for (label, c) in by_label {
            let topic = format!("{base}/lines/{}/{}", topic_level(line), topic_level(label));
            out.push((
                topic,
                json!({"in": c.in_, "out": c.out}).to_string().into_bytes(),
            ));
        }
    }
    for (zone, by_label) in &counts.zones {
        for (label, c) in by_label {
            let topic = format!("{base}/zones/{}/{}", topic_level(zone), topic_level(label));
            let payload = json!({"inside": c.inside, "entered": c.entered});
            out.push((topic, payload.to_string().into_bytes()));
        }
    }
    out
}

/// (topic, payload) of each Home Assistant sensor config, under discovery `prefix`.
pub fn discovery_messages(
    prefix: &str,
    base: &str,
    origin: &Origin,
    counts: &Counts,
) -> Vec<(String, Vec<u8>)> {
    let node = topic_level(&format!("hmg_{}_{}", origin.device, origin.stream));
    let device = json!({
        "identifiers": [node],
        "name": format!("hmg {} {}", origin.device, origin.stream),
        "manufacturer": "hmg",
        "model": "hmg detzone",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    // (kind, name, label, value, state class, what it counts)
    let mut sensors = Vec::new();
    for (line, by_label) in &counts.lines {
        for label in by_label.keys() {
            sensors.push(("lines", line, label, "in", "total_increasing", "crossings"));
            sensors.push(("lines", line, label, "out", "total_increasing", "crossings"));
        }
    }
    for (zone, by_label) in &counts.zones {
        for label in by_label.keys() {
            sensors.push(("zones", zone, label, "inside", "measurement", "objects"));
            sensors.push((
                "zones",
                zone,
                label,
                "entered",
                "total_increasing",
                "entries",
            ));
        }
    }
    sensors
        .into_iter()
        .map(|(kind, name, label, value, state_class, unit)| {
            let object = topic_level(&format!("{kind}_{name}_{label}_{value}"));
            let unique_id = format!("{node}_{object}");
            let payload = json!({
                "name": format!("{name} {label} {value}"),
                "unique_id": unique_id,
                "state_topic": format!("{base}/{kind}/{}/{}", topic_level(name), topic_level(label)),
                "value_template": format!("{{{{ value_json.{value} }}}}"),
                "state_class": state_class,
                "unit_of_measurement": unit,
                "icon": if kind == "lines" { "mdi:transit-transfer" } else { "mdi:vector-polygon" },
                "device": device,
            });
            (
                format!("{prefix}/sensor/{node}/{object}/config"),
                payload.to_string().into_bytes(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmg_detect::zones::{LineCount, ZoneCount};

    #[test]
    fn names_become_safe_topic_levels() {
        assert_eq!(topic_level("front door/+#"), "front_door___");
        assert_eq!(counts_base("hmg/pi/door/detections"), "hmg/pi/door/counts");
        assert_eq!(counts_base("events"), "counts");
    }

    #[test]
    fn every_count_has_a_state_and_a_sensor_reading_it() {
        let mut counts = Counts::default();
        counts
            .lines
            .entry("door".into())
            .or_default()
            .insert("person".into(), LineCount { in_: 3, out: 1 });
        counts.zones.entry("dock".into()).or_default().insert(
            "car".into(),
            ZoneCount {
                inside: 1,
                entered: 4,
            },
        );
        let states = state_messages("b/counts", &counts);
        assert_eq!(states.len(), 2);
        let origin = Origin {
            device: "pi",
            stream: "cam 0",
        };
        let configs = discovery_messages("homeassistant", "b/counts", &origin, &counts);
        assert_eq!(configs.len(), 4);
        for (topic, payload) in &configs {
            assert!(
                topic.starts_with("homeassistant/sensor/hmg_pi_cam_0/"),
                "{topic}"
            );
            let config: serde_json::Value = serde_json::from_slice(payload).unwrap();
            let state = config["state_topic"].as_str().unwrap();
            let (_, value) = states.iter().find(|(t, _)| t == state).unwrap();
            let value: serde_json::Value = serde_json::from_slice(value).unwrap();
            let key = config["value_template"]
                .as_str()
                .unwrap()
                .trim_start_matches("{{ value_json.")
                .trim_end_matches(" }}");
            assert!(value[key].is_u64(), "{key} not in {value}");
        }
    }
}
