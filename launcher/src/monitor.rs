// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg monitor URL`: subscribes to the detections a fleet of `detmqtt` elements publishes and
//! shows a live table — device, stream, FPS, frames, detections per class, and the counts per
//! line and zone that detmqtt retains beside them — in the terminal.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use rumqttc::{Client, Event, Incoming, MqttOptions, QoS, Transport};

use crate::usage::usage;

#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    hmg monitor mqtt://broker:1883/hmg/{device}/{stream}/detections\n  \
    hmg monitor mqtts://broker/hmg/{device}/{stream}/detections --ca-file ca.pem\n\n\
    {device} and {stream} in the topic match any device and stream (MQTT's +).\n\
    User name and password: HMG_MQTT_USERNAME and HMG_MQTT_PASSWORD.")]
pub struct MonitorArgs {
    /// Broker and topic, as given to detmqtt / hmg detect --mqtt
    url: String,
    /// Stop after this many seconds (default: until Ctrl-C)
    #[arg(long, value_parser = crate::usage::seconds)]
    duration: Option<f64>,
    /// Print one JSON summary at the end instead of the live table
    #[arg(long)]
    json: bool,
    /// Seconds between two redraws of the table
    #[arg(long, default_value_t = 1.0, value_parser = crate::usage::seconds)]
    interval: f64,
    /// CA certificate (PEM) for mqtts://
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that require one (with --key-file)
    #[arg(long)]
    cert_file: Option<PathBuf>,
    /// Client key (PEM, PKCS#8)
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Also serve the fleet as a web page (a link with a per-run token is printed)
    #[arg(long)]
    serve: bool,
    /// Address and port of the fleet page (0.0.0.0:8090 to open it from other machines)
    #[arg(
        long,
        default_value = "127.0.0.1:8090",
        value_name = "ADDR:PORT",
        requires = "serve"
    )]
    bind: std::net::SocketAddr,
}

/// The broker and the subscription the URL stands for.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    tls: bool,
    /// The topic filter, `{device}`/`{stream}` as `+`.
    filter: String,
    /// Which topic levels name the device and the stream.
    device_level: Option<usize>,
    stream_level: Option<usize>,
    /// detmqtt's retained counts beside the topic (`<parent>/counts/<kind>/<place>/<class>`),
    /// and the level that says `counts`.
    counts_filter: Option<String>,
    counts_level: usize,
}

fn parse_target(url: &str) -> anyhow::Result<Target> {
    let address = gsthmg::detmqtt::Address::parse_template(url).map_err(usage)?;
    let topic = if address.topic.is_empty() {
        "#"
    } else {
        &address.topic
    };
    let levels: Vec<&str> = topic.split('/').collect();
    let find = |name: &str| levels.iter().position(|l| *l == name);
    let filters: Vec<&str> = levels
        .iter()
        .map(|l| {
            if l.starts_with('{') && l.ends_with('}') {
                "+"
            } else {
                l
            }
        })
        .collect();
    let parent = &filters[..filters.len() - 1];
    let counts_filter = (!parent.is_empty() && !parent.iter().any(|l| l.contains('#')))
        .then(|| format!("{}/counts/#", parent.join("/")));
    Ok(Target {
        filter: filters.join("/"),
        counts_filter,
        counts_level: parent.len(),
        device_level: find("{device}"),
        stream_level: find("{stream}"),
        host: address.host,
        port: address.port,
        tls: address.tls,
    })
}

/// What one device/stream pair has sent.
#[derive(Debug, Default)]
struct StreamView {
    frames: u64,
    detections: u64,
    per_class: BTreeMap<String, u64>,
    /// Tracks announced by event records (detmqtt events=true).
    tracks: u64,
    /// "lines"/"zones" → place → class → counts, as retained by detmqtt.
    counts: BTreeMap<String, BTreeMap<String, BTreeMap<String, serde_json::Value>>>,
    /// Arrival times of the last few seconds (for FPS).
    recent: std::collections::VecDeque<Instant>,
    last: Option<Instant>,
}

const FPS_WINDOW: Duration = Duration::from_secs(5);

impl StreamView {
    fn add(&mut self, message: &serde_json::Value, now: Instant) {
        // A track event record, not a frame: new tracks count per class.
        if message["schema"]
            .as_str()
            .is_some_and(|s| s.starts_with("hmg-event/"))
        {
            self.last = Some(now);
            if message["type"] == "new" {
                self.tracks += 1;
                let label = message["label"].as_str().unwrap_or("?").to_string();
                *self.per_class.entry(label).or_default() += 1;
            }
            return;
        }
        self.frames += 1;
        self.last = Some(now);
        self.recent.push_back(now);
        while self.recent.front().is_some_and(|t| now - *t > FPS_WINDOW) {
            self.recent.pop_front();
        }
        for d in message["detections"].as_array().into_iter().flatten() {
            self.detections += 1;
            let label = d["label"].as_str().unwrap_or("?").to_string();
            *self.per_class.entry(label).or_default() += 1;
        }
    }

    /// "door in 3 out 1; left inside 1 entered 4" (all classes together).
    fn counts_text(&self) -> String {
        let mut parts = Vec::new();
        for (kind, keys) in [("lines", ["in", "out"]), ("zones", ["inside", "entered"])] {
            for (place, by_class) in self.counts.get(kind).into_iter().flatten() {
                let sum =
                    |k: &str| -> u64 { by_class.values().filter_map(|c| c[k].as_u64()).sum() };
                parts.push(format!(
                    "{place} {} {} {} {}",
                    keys[0],
                    sum(keys[0]),
                    keys[1],
                    sum(keys[1])
                ));
            }
        }
        parts.join("; ")
    }

    fn fps(&self, now: Instant) -> f64 {
        let n = self
            .recent
            .iter()
            .filter(|t| now - **t <= FPS_WINDOW)
            .count();
        match self.recent.front() {
            Some(first) if n > 1 => (n - 1) as f64 / (now - *first).as_secs_f64().max(1e-3),
            _ => 0.0,
        }
    }
}

fn tls_transport(args: &MonitorArgs) -> anyhow::Result<Transport> {
    let read =
        |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read '{}'", p.display()));
    let ca = args.ca_file.as_ref().map(read).transpose()?;
    let identity = match (&args.cert_file, &args.key_file) {
        (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
        (None, None) => None,
        _ => return Err(usage("--cert-file and --key-file go together")),
    };
    let identity = identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice()));
    gsthmg::detmqtt::native_tls_transport(ca.as_deref(), identity).map_err(|e| anyhow!("{e}"))
}

/// MQTT's largest packet (the "remaining length" limit, 256 MiB).
const MQTT_MAX_PACKET: usize = 268_435_455;

pub fn run(args: &MonitorArgs) -> anyhow::Result<()> {
    let target = parse_target(&args.url)?;
    if args.interval.is_nan() || args.interval <= 0.0 {
        return Err(usage("--interval must be above 0"));
    }
    let id = format!("hmg-monitor-{}", std::process::id());
    let mut options = MqttOptions::new(id, &target.host, target.port);
    options.set_keep_alive(Duration::from_secs(15));
    // rumqttc refuses incoming packets over 10 KiB by default (and then reconnects): a frame with
    // ~110 detections. Anything the broker accepted must be readable, up to MQTT's own limit.
    options.set_max_packet_size(MQTT_MAX_PACKET, 64 * 1024);
    if let Ok(user) = std::env::var("HMG_MQTT_USERNAME") {
        options.set_credentials(user, std::env::var("HMG_MQTT_PASSWORD").unwrap_or_default());
    }
    if target.tls {
        options.set_transport(tls_transport(args)?);
    }
    let page = if args.serve {
        let page = crate::fleet_page::FleetPage::start(args.bind)?;
        if !args.bind.ip().is_loopback() {
            println!(
                "warning: the fleet page listens on {}: anyone who can reach this machine and has the link sees the fleet",
                args.bind
            );
        }
        println!("fleet page: {}", page.url);
        Some(page)
    } else {
        None
    };
    let (client, mut connection) = Client::new(options, 16);
    let start = Instant::now();
    let end = args
        .duration
        .map(|d| start + Duration::from_secs_f64(d.max(0.0)));
    let interval = Duration::from_secs_f64(args.interval);
    let mut next_draw = start + interval;
    let mut streams: BTreeMap<(String, String), StreamView> = BTreeMap::new();
    let mut status = format!("connecting to {}:{} …", target.host, target.port);
    let mut subscribed = false;
    loop {
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        match connection.recv_timeout(Duration::from_millis(100)) {
            // A clean session forgets subscriptions: subscribe on every (re)connection, or the
            // monitor would go deaf after the first reconnect.
            Ok(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
                for filter in std::iter::once(&target.filter).chain(&target.counts_filter) {
                    client
                        .try_subscribe(filter, QoS::AtLeastOnce)
                        .map_err(|e| anyhow!("cannot subscribe: {e}"))?;
                }
            }
            Ok(Ok(Event::Incoming(Incoming::SubAck(_)))) => {
                subscribed = true;
                status = format!(
                    "subscribed to '{}' on {}:{}",
                    target.filter, target.host, target.port
                );
            }
            Ok(Ok(Event::Incoming(Incoming::Publish(p)))) => {
                let Ok(message) = serde_json::from_slice::<serde_json::Value>(&p.payload) else {
                    continue;
                };
                let levels: Vec<&str> = p.topic.split('/').collect();
                let level = |i: Option<usize>| i.and_then(|i| levels.get(i)).map(|s| s.to_string());
                let device = level(target.device_level).unwrap_or_else(|| "-".into());
                let counts = &levels[target.counts_level.min(levels.len())..];
                if target.counts_filter.is_some()
                    && let ["counts", kind, place, class] = counts
                {
                    // The stream of a count is only known from the topic.
                    let stream = level(target.stream_level).unwrap_or_else(|| "-".into());
                    streams
                        .entry((device, stream))
                        .or_default()
                        .counts
                        .entry(kind.to_string())
                        .or_default()
                        .entry(place.to_string())
                        .or_default()
                        .insert(class.to_string(), message);
                    continue;
                }
                let stream = level(target.stream_level)
                    .or_else(|| message["stream"].as_str().map(str::to_string))
                    .unwrap_or_else(|| p.topic.clone());
                streams
                    .entry((device, stream))
                    .or_default()
                    .add(&message, Instant::now());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                status = format!("broker {}:{}: {e} (retrying)", target.host, target.port);
                if !subscribed && args.json {
                    // In JSON mode an unreachable broker is an error, not a wait.
                    return Err(anyhow!(
                        "cannot reach the MQTT broker {}:{}: {e}",
                        target.host,
                        target.port
                    ));
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(rumqttc::RecvTimeoutError::Timeout) => {}
            Err(rumqttc::RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_draw {
            next_draw += interval;
            if let Some(page) = &page {
                page.set(streams_json(&streams, Instant::now(), Some(&status)));
            }
            if !args.json && page.is_none() {
                draw(&streams, &status);
            }
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&streams_json(&streams, Instant::now(), None))?
        );
    } else {
        draw(&streams, &status);
    }
    Ok(())
}

/// The streams as `--json` prints them and the fleet page shows them (with `status`: also the
/// seconds since each was last heard from, and the monitor's own status line).
fn streams_json(
    streams: &BTreeMap<(String, String), StreamView>,
    now: Instant,
    status: Option<&str>,
) -> serde_json::Value {
    let list: Vec<serde_json::Value> = streams
        .iter()
        .map(|((device, stream), v)| {
            let mut row = serde_json::json!({
                "device": device,
                "stream": stream,
                "frames": v.frames,
                "fps": (v.fps(now) * 100.0).round() / 100.0,
                "detections": v.detections,
                "per_class": v.per_class,
                "tracks": v.tracks,
                "counts": v.counts,
            });
            if status.is_some() {
                row["last_seen_s"] = v
                    .last
                    .map(|t| ((now - t).as_secs_f64() * 10.0).round() / 10.0)
                    .into();
            }
            row
        })
        .collect();
    match status {
        Some(status) => serde_json::json!({ "streams": list, "status": status }),
        None => serde_json::json!({ "streams": list }),
    }
}

/// Redraws the whole table (cursor home, clear screen).
fn draw(streams: &BTreeMap<(String, String), StreamView>, status: &str) {
    let now = Instant::now();
    let mut out = String::from("\x1b[H\x1b[2J");
    out.push_str(&format!("hmg monitor — {status}\n\n"));
    out.push_str(&format!(
        "{:<16} {:<16} {:>7} {:>9} {:>11} {:>9}  {}\n",
        "device", "stream", "FPS", "frames", "detections", "last", "per class"
    ));
    if streams.is_empty() {
        out.push_str("(no messages yet)\n");
    }
    for ((device, stream), v) in streams {
        let last = v.last.map_or("-".to_string(), |t| {
            format!("{:.0} s ago", (now - t).as_secs_f64())
        });
        let classes: Vec<String> = v
            .per_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        out.push_str(&format!(
            "{:<16} {:<16} {:>7.1} {:>9} {:>11} {:>9}  {}\n",
            device,
            stream,
            v.fps(now),
            v.frames,
            v.detections,
            last,
            classes.join(", ")
        ));
        let counts = v.counts_text();
        if !counts.is_empty() {
            out.push_str(&format!("{:<16} counts: {counts}\n", ""));
        }
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_subscriptions() {
        let t = parse_target("mqtt://broker:1884/hmg/{device}/{stream}/detections").unwrap();
        assert_eq!(t.filter, "hmg/+/+/detections");
        assert_eq!((t.host.as_str(), t.port, t.tls), ("broker", 1884, false));
        assert_eq!((t.device_level, t.stream_level), (Some(1), Some(2)));
        assert_eq!(t.counts_filter.as_deref(), Some("hmg/+/+/counts/#"));
        assert_eq!(t.counts_level, 3);
        let t = parse_target("mqtts://broker").unwrap();
        assert_eq!((t.port, t.filter.as_str()), (8883, "#"));
        assert_eq!(t.counts_filter, None);
        assert!(parse_target("mqtt://u:p@broker/x").is_err());
        assert!(parse_target("tcp://broker/x").is_err());
    }
}
