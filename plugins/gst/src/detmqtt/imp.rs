// SPDX-License-Identifier: MIT OR Apache-2.0

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::thread::JoinHandle;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::subclass::prelude::*;

use super::address::Address;
use super::counts::{self, Origin};
use super::retained::Retained;
use super::sender::{self, Config, Stats};
use super::spool::Spool;
use crate::detlog::frame_line;
use crate::events::{BufferEvents, EventSettings};
use crate::{meta, roi};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "detmqtt",
        gst::DebugColorFlags::empty(),
        Some("hmg detections to MQTT"),
    )
});

const DEFAULT_SPOOL_MAX: u32 = 100_000;

#[derive(Debug, Clone)]
struct Settings {
    location: Option<String>,
    device: Option<String>,
    stream_name: Option<String>,
    client_id: Option<String>,
    spool_dir: Option<String>,
    spool_max: u32,
    credentials_file: Option<String>,
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    events: EventSettings,
    discovery_prefix: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            location: None,
            device: None,
            stream_name: None,
            client_id: None,
            spool_dir: None,
            spool_max: DEFAULT_SPOOL_MAX,
            credentials_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            events: EventSettings::default(),
            discovery_prefix: None,
        }
    }
}

struct State {
    stream: String,
    device: String,
    /// With `events`: track records instead of frame records.
    events: Option<BufferEvents>,
    /// Counts (and their Home Assistant sensors) from detzone's `HmgZones`.
    retained: Arc<Retained>,
    counts_base: String,
    discovery_prefix: Option<String>,
    zones_json: String,
    frames: u64,
    size: (i32, i32),
    spool: Arc<Spool>,
    stats: Arc<Stats>,
    sender: Option<JoinHandle<()>>,
    warned_write: bool,
    warned_dropped: u64,
}

#[derive(Default)]
pub struct DetMqtt {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    /// The counters of the current or last run (still readable after the element stopped).
    counters: Mutex<Option<(Arc<Spool>, Arc<Stats>)>>,
}

#[glib::object_subclass]
impl ObjectSubclass for DetMqtt {
    const NAME: &'static str = "GstHmgDetMqtt";
    type Type = super::DetMqtt;
    type ParentType = gst_base::BaseTransform;
}

fn settings_error(text: String) -> gst::ErrorMessage {
    gst::error_msg!(gst::ResourceError::Settings, ["{}", text])
}

fn read_file(what: &str, path: &str) -> Result<Vec<u8>, gst::ErrorMessage> {
    std::fs::read(path).map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::OpenRead,
            ("Cannot read the {} '{}': {}", what, path, e)
        )
    })
}

/// User name and password: from `credentials-file` (first line user, second password), else
/// from HMG_MQTT_USERNAME / HMG_MQTT_PASSWORD; never from a property value.
fn credentials(file: Option<&str>) -> Result<Option<(String, String)>, gst::ErrorMessage> {
    if let Some(path) = file {
        let text = String::from_utf8(read_file("credentials file", path)?)
            .map_err(|_| settings_error(format!("credentials file '{path}' is not UTF-8 text")))?;
        let mut lines = text.lines();
        return match (lines.next(), lines.next()) {
            (Some(user), Some(password)) if !user.is_empty() => {
                Ok(Some((user.to_string(), password.to_string())))
            }
            _ => Err(settings_error(format!(
                "credentials file '{path}' must hold the user name on line 1 and the password on line 2"
            ))),
        };
    }
    match std::env::var("HMG_MQTT_USERNAME") {
        Ok(user) if !user.is_empty() => Ok(Some((
            user,
            std::env::var("HMG_MQTT_PASSWORD").unwrap_or_default(),
        ))),
        _ => Ok(None),
    }
}

/// `$XDG_STATE_HOME/hmg/spool/<client id>` (default `~/.local/state/...`).
fn default_spool_dir(client_id: &str) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("hmg/spool").join(client_id)
}

impl ObjectImpl for DetMqtt {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("location")
                    .nick("Location")
                    .blurb("Broker and topic: mqtt://host[:1883]/topic or mqtts://host[:8883]/topic; {device} and {stream} in the topic are filled in")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("device")
                    .nick("Device")
                    .blurb("Device name for {device} and the client id (default: the host name)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("stream-name")
                    .nick("Stream name")
                    .blurb("Value of the \"stream\" field and of {stream} (default: the element's name)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("client-id")
                    .nick("Client id")
                    .blurb("MQTT client id (default: hmg-<device>-<stream>)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("spool-dir")
                    .nick("Spool folder")
                    .blurb("Where messages wait while the broker is away (default: ~/.local/state/hmg/spool/<client id>); kept across restarts")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("spool-max-messages")
                    .nick("Spool limit")
                    .blurb("Messages the spool holds at most; beyond it the oldest are dropped and counted")
                    .minimum(1)
                    .default_value(DEFAULT_SPOOL_MAX)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("credentials-file")
                    .nick("Credentials file")
                    .blurb("File with the user name (line 1) and password (line 2); else HMG_MQTT_USERNAME / HMG_MQTT_PASSWORD")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("ca-file")
                    .nick("CA file")
                    .blurb("PEM certificate of the CA that signed the broker's (mqtts://; default: the system's CAs)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("cert-file")
                    .nick("Client certificate")
                    .blurb("PEM client certificate for brokers that require one (with key-file)")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("key-file")
                    .nick("Client key")
                    .blurb("PEM PKCS#8 private key of cert-file")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecString::builder("discovery-prefix")
                    .nick("Home Assistant discovery prefix")
                    .blurb("Publish a retained Home Assistant MQTT discovery config per count (line in/out, zone inside/entered, per class), e.g. homeassistant; unset: none")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt64::builder("sent")
                    .nick("Sent")
                    .blurb("Messages the broker acknowledged")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("spooled")
                    .nick("Spooled")
                    .blurb("Messages waiting in the spool")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("dropped")
                    .nick("Dropped")
                    .blurb("Messages dropped because the spool was full")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("undeliverable")
                    .nick("Undeliverable")
                    .blurb("Messages set aside in the spool's undeliverable/ folder: damaged or foreign files, or refused by the broker again and again")
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("connected")
                    .nick("Connected")
                    .blurb("Whether the broker is connected now")
                    .read_only()
                    .build(),
            ]
            .into_iter()
            .chain(EventSettings::properties())
            .collect()
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        let text = || {
            value
                .get::<Option<String>>()
                .expect("type checked upstream")
        };
        match pspec.name() {
            "location" => s.location = text(),
            "device" => s.device = text(),
            "stream-name" => s.stream_name = text(),
            "client-id" => s.client_id = text(),
            "spool-dir" => s.spool_dir = text(),
            "spool-max-messages" => s.spool_max = value.get().expect("type checked upstream"),
            "credentials-file" => s.credentials_file = text(),
            "ca-file" => s.ca_file = text(),
            "cert-file" => s.cert_file = text(),
            "key-file" => s.key_file = text(),
            "discovery-prefix" => s.discovery_prefix = text(),
            name => {
                assert!(s.events.set(name, value), "no property {name}");
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let counters = self.counters.lock().unwrap();
        let stats = counters.as_ref().map(|(spool, stats)| (spool, stats));
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "location" => s.location.to_value(),
            "device" => s.device.to_value(),
            "stream-name" => s.stream_name.to_value(),
            "client-id" => s.client_id.to_value(),
            "spool-dir" => s.spool_dir.to_value(),
            "spool-max-messages" => s.spool_max.to_value(),
            "credentials-file" => s.credentials_file.to_value(),
            "ca-file" => s.ca_file.to_value(),
            "cert-file" => s.cert_file.to_value(),
            "key-file" => s.key_file.to_value(),
            "discovery-prefix" => s.discovery_prefix.to_value(),
            "sent" => stats
                .map_or(0, |(_, st)| st.sent.load(Ordering::SeqCst))
                .to_value(),
            "spooled" => stats.map_or(0, |(sp, _)| sp.len() as u64).to_value(),
            "dropped" => stats.map_or(0, |(sp, _)| sp.dropped()).to_value(),
            "undeliverable" => stats.map_or(0, |(sp, _)| sp.set_aside_count()).to_value(),
            "connected" => stats
                .is_some_and(|(_, st)| st.connected.load(Ordering::SeqCst))
                .to_value(),
            name => s.events.get(name).expect("a listed property"),
        }
    }
}

impl GstObjectImpl for DetMqtt {}

impl ElementImpl for DetMqtt {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static ELEMENT_METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "hmg detections to MQTT",
                "Filter/Video",
                "Publishes each frame's detections as a JSON message (QoS 1) through an on-disk spool, or with events=true each track's new, update and end records; detzone's counts as retained messages, optionally with Home Assistant discovery",
                "hmg developers",
            )
        });
        Some(&*ELEMENT_METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        crate::frame::any_video_pad_templates()
    }
}

impl BaseTransformImpl for DetMqtt {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::AlwaysInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = true;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = true;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let s = self.settings.lock().unwrap().clone();
        let location = s.location.filter(|l| !l.is_empty()).ok_or_else(|| {
            settings_error(
                "No broker set: give location=mqtt://host:1883/hmg/{device}/{stream}/detections"
                    .into(),
            )
        })?;
        let device = s
            .device
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| glib::host_name().to_string());
        let stream = s
            .stream_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.obj().name().to_string());
        let address = Address::parse(&location, &device, &stream).map_err(settings_error)?;
        let counts_base = counts::counts_base(&address.topic);
        let discovery_prefix = s
            .discovery_prefix
            .filter(|p| !p.is_empty())
            .map(|p| p.trim_end_matches('/').to_string());
        if let Some(p) = &discovery_prefix
            && p.contains(['+', '#'])
        {
            return Err(settings_error(format!(
                "discovery-prefix '{p}' cannot hold + or #: Home Assistant's default is homeassistant"
            )));
        }
        let client_id = s
            .client_id
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| format!("hmg-{device}-{stream}"));
        let ca = s
            .ca_file
            .as_deref()
            .map(|p| read_file("CA file", p))
            .transpose()?;
        let identity = match (s.cert_file.as_deref(), s.key_file.as_deref()) {
            (Some(c), Some(k)) => Some((
                read_file("client certificate", c)?,
                read_file("client key", k)?,
            )),
            (None, None) => None,
            _ => {
                return Err(settings_error(
                    "cert-file and key-file go together: set both, or neither".into(),
                ));
            }
        };
        let config = Config {
            address,
            client_id: client_id.clone(),
            credentials: credentials(s.credentials_file.as_deref())?,
            ca,
            identity,
        };
        let transport = sender::tls_transport(&config).map_err(settings_error)?;
        let spool_dir = s
            .spool_dir
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| default_spool_dir(&client_id));
        let spool = Arc::new(
            Spool::open(&spool_dir, s.spool_max as usize)
                .map_err(|e| gst::error_msg!(gst::ResourceError::OpenWrite, ["{}", e]))?,
        );
        let stats = Arc::new(Stats::default());
        let retained = Arc::new(Retained::default());
        gst::info!(
            CAT,
            imp = self,
            "publishing stream '{stream}' to {}:{} topic '{}' (spool {}, {} waiting)",
            config.address.host,
            config.address.port,
            config.address.topic,
            spool_dir.display(),
            spool.len()
        );
        let element = self.obj().downgrade();
        let (sp, st, re) = (spool.clone(), stats.clone(), retained.clone());
        let sender = std::thread::Builder::new()
            .name(format!("detmqtt-{stream}"))
            .spawn(move || {
                sender::run(config, transport, sp, re, st, move |text| {
                    if let Some(element) = element.upgrade() {
                        gst::element_warning!(element, gst::ResourceError::Write, ["{}", text]);
                    }
                })
            })
            .map_err(|e| {
                gst::error_msg!(
                    gst::CoreError::Failed,
                    ["Cannot start the MQTT sender: {}", e]
                )
            })?;
        *self.counters.lock().unwrap() = Some((spool.clone(), stats.clone()));
        *self.state.lock().unwrap() = Some(State {
            stream,
            device,
            events: s.events.start(),
            retained,
            counts_base,
            discovery_prefix,
            zones_json: String::new(),
            frames: 0,
            size: (0, 0),
            spool,
            stats,
            sender: Some(sender),
            warned_write: false,
            warned_dropped: 0,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        // A graph stopped without EOS still ends its tracks.
        self.end_tracks();
        let state = self.state.lock().unwrap().take();
        if let Some(mut state) = state {
            state.spool.close();
            if let Some(sender) = state.sender.take() {
                let _ = sender.join();
            }
            gst::info!(
                CAT,
                imp = self,
                "stopped: {} sent, {} left in the spool for the next run, {} dropped",
                state.stats.sent.load(Ordering::SeqCst),
                state.spool.len(),
                state.spool.dropped()
            );
        }
        Ok(())
    }

    fn set_caps(&self, incaps: &gst::Caps, _outcaps: &gst::Caps) -> Result<(), gst::LoggableError> {
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.size = crate::frame::caps_size(incaps);
        }
        Ok(())
    }

    fn transform_ip_passthrough(
        &self,
        buf: &gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = self.state.lock().unwrap();
        let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
        state.frames += 1;
        let messages = match state.events.as_mut() {
            Some(ev) => ev
                .frame(buf)
                .iter()
                .map(|e| e.record(Some(&state.stream)).to_string())
                .collect(),
            None => {
                let dets = roi::detections_from_buffer(buf);
                vec![frame_line(
                    &state.stream,
                    state.frames - 1,
                    buf,
                    state.size,
                    &dets,
                )]
            }
        };
        self.spool(state, &messages);
        if let Some(json) = meta::zones_state_json(buf)
            && json != state.zones_json
        {
            state.publish_counts(&json);
            state.zones_json = json;
        }
        Ok(gst::FlowSuccess::Ok)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let gst::EventView::Eos(_) = event.view() {
            self.end_tracks();
        }
        self.parent_sink_event(event)
    }
}

impl State {
    /// Retained counts, and their Home Assistant configs, from detzone's state.
    fn publish_counts(&self, zones_json: &str) {
        let Ok(zones) = serde_json::from_str::<hmg_detect::zones::ZoneState>(zones_json) else {
            return;
        };
        for (topic, payload) in counts::state_messages(&self.counts_base, &zones.counts) {
            self.retained.set(topic, payload);
        }
        if let Some(prefix) = &self.discovery_prefix {
            let origin = Origin {
                device: &self.device,
                stream: &self.stream,
            };
            for (topic, payload) in
                counts::discovery_messages(prefix, &self.counts_base, &origin, &zones.counts)
            {
                self.retained.set(topic, payload);
            }
        }
    }
}

impl DetMqtt {
    /// With `events`: the end record of every live track, into the spool.
    fn end_tracks(&self) {
        let mut guard = self.state.lock().unwrap();
        let Some(state) = guard.as_mut() else { return };
        let Some(ev) = state.events.as_mut() else {
            return;
        };
        let messages: Vec<String> = ev
            .finish()
            .iter()
            .map(|e| e.record(Some(&state.stream)).to_string())
            .collect();
        self.spool(state, &messages);
    }

    /// Into the spool: a local disk write, so the graph never waits on the network. Failures are
    /// reported once and the video flows on.
    fn spool(&self, state: &mut State, messages: &[String]) {
        for m in messages {
            if let Err(e) = state.spool.push(m.as_bytes())
                && !state.warned_write
            {
                state.warned_write = true;
                gst::element_imp_warning!(self, gst::ResourceError::Write, ["{}", e]);
            }
        }
        let dropped = state.spool.dropped();
        // Warned at the first drop, then each time the count doubles.
        if dropped > 0 && dropped >= state.warned_dropped * 2 {
            state.warned_dropped = dropped.max(1);
            gst::element_imp_warning!(
                self,
                gst::ResourceError::NoSpaceLeft,
                [
                    "The MQTT spool is full: {} oldest messages dropped so far (raise spool-max-messages or check the broker)",
                    dropped
                ]
            );
        }
    }
}
