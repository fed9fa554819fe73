// SPDX-License-Identifier: MIT OR Apache-2.0
#![allow(unused_doc_comments)]

/**
 * SECTION:element-detmqtt
 * @see_also: detlog, yolonms
 *
 * Publishes one JSON message per frame — the same record `detlog` writes as a line — to an MQTT
 * broker with QoS 1. Messages go through a bounded on-disk spool first (`spool-dir`,
 * `spool-max-messages`), so the graph never waits on the network and nothing is lost while the
 * broker is away or the process restarts: they are sent in order, with back-off, when the
 * connection returns. When the spool is full the oldest are dropped and counted (`dropped`, and
 * a warning). TLS with `mqtts://` (`ca-file`, `cert-file` + `key-file` for mutual TLS); user name
 * and password from `credentials-file` or HMG_MQTT_USERNAME / HMG_MQTT_PASSWORD, never from the
 * location. Frames pass through untouched.
 *
 * With `events=true` it publishes per-track records instead (new, update, end; schema
 * hmg-event/1, the same records `detlog events=true` writes). After `detzone`, the counts per line
 * and zone and class are also published, retained, under `<topic's parent>/counts/...`, and with
 * `discovery-prefix=homeassistant` as Home Assistant sensors (MQTT discovery), with no YAML.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 libcamerasrc ! video/x-raw,format=NV12,width=1280,height=720 ! hailoinfer hef=m.hef ! yolonms ! detmqtt location=mqtt://broker:1883/hmg/{device}/{stream}/detections stream-name=door ! fakesink
 * ]|
 */
use gst::glib;
use gst::prelude::*;

mod address;
mod counts;
mod imp;
mod retained;
mod sender;
// Public for the fuzz target of its file checks (fuzz/fuzz_targets/spool_files.rs).
pub mod spool;

// Shared with `hmg monitor` and `hmg detect --mqtt`: one reading of MQTT URLs, one TLS set-up.
pub use address::Address;
pub use sender::native_tls_transport;

glib::wrapper! {
    pub struct DetMqtt(ObjectSubclass<imp::DetMqtt>) @extends gst_base::BaseTransform, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "detmqtt",
        gst::Rank::NONE,
        DetMqtt::static_type(),
    )
}
