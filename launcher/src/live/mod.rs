// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg detect --serve`: a page any browser on the LAN can open to see a headless Pi's streams —
//! the live picture with boxes drawn, FPS, latency, counts, the latest detections — and to draw
//! the lines and zones detzone counts.
//!
//! Video: each stream's drawn frames leave the detection branch through a leaky one-frame queue,
//! at most 10 a second, at most 640 px wide, as JPEG (MJPEG over HTTP: every browser shows it in
//! an `<img>`, no player, no WebRTC stack). The newest JPEG of each stream is kept, one; a client
//! that reads slowly, or not at all, only ever holds one frame and never slows the graph.

mod server;

use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;
use gst::prelude::*;

/// The preview branch of stream `i` (after `tee name=fanout<i>`).
pub fn preview_branch(i: usize) -> String {
    format!(
        " fanout{i}. ! queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0 ! videorate drop-only=true max-rate={PREVIEW_FPS} ! videoscale ! videoconvert ! video/x-raw,width=[16,{PREVIEW_WIDTH}],format=I420 ! jpegenc quality=75 ! appsink name=preview{i} sync=false max-buffers=1 drop=true"
    )
}

/// The preview's rate and width: enough to see what the camera sees, cheap to encode.
const PREVIEW_FPS: u32 = 10;
const PREVIEW_WIDTH: u32 = 640;

/// The newest picture and record of one stream.
#[derive(Default)]
pub struct Feed {
    pub name: String,
    /// (sequence number, JPEG), the newest.
    jpeg: Mutex<(u64, Option<Arc<Vec<u8>>>)>,
    fresh: Condvar,
    /// The newest frame's detections, as detlog writes them.
    /// Kept as written: parsed only when the page asks (twice a second), not on every frame.
    record: Mutex<Option<String>>,
    /// The latest line and zone events, newest last, each with the picture shown when it came.
    events: Mutex<VecDeque<Event>>,
}

/// One event of detzone as the page lists it.
struct Event {
    id: u64,
    record: serde_json::Value,
    picture: Option<Arc<Vec<u8>>>,
}

/// Events each stream keeps for the page.
const EVENTS_KEPT: usize = 20;

/// What the server and the graph share.
pub struct Shared {
    pub token: String,
    pub feeds: Vec<Feed>,
    /// The zones file the editor writes (detect's --zones), if any.
    pub zones_file: Option<PathBuf>,
    /// Stats of every stream, as the last tick made them.
    stats: Mutex<serde_json::Value>,
    closed: AtomicBool,
    /// Streaming responses open now (MJPEG, events).
    pub streaming: AtomicUsize,
    /// Numbers the events of all streams.
    next_event: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The newest JPEG of stream `i` newer than `after`, waiting up to `wait` for one.
    pub fn jpeg_after(
        &self,
        i: usize,
        after: u64,
        wait: std::time::Duration,
    ) -> Option<(u64, Arc<Vec<u8>>)> {
        let feed = self.feeds.get(i)?;
        let guard = feed.jpeg.lock().unwrap();
        let (guard, _) = feed
            .fresh
            .wait_timeout_while(guard, wait, |(seq, _)| *seq <= after && !self.closed())
            .unwrap();
        match &*guard {
            (seq, Some(jpeg)) if *seq > after => Some((*seq, jpeg.clone())),
            _ => None,
        }
    }

    /// Stats and the newest record of every stream, and the latest events, for the page.
    pub fn snapshot(&self) -> serde_json::Value {
        let records: Vec<serde_json::Value> = self
            .feeds
            .iter()
            .map(|f| {
                f.record
                    .lock()
                    .unwrap()
                    .as_deref()
                    .and_then(|line| serde_json::from_str(line).ok())
                    .unwrap_or_default()
            })
            .collect();
        let mut events: Vec<serde_json::Value> = self
            .feeds
            .iter()
            .flat_map(|f| {
                let kept = f.events.lock().unwrap();
                kept.iter()
                    .map(|e| {
                        let mut r = e.record.clone();
                        r["id"] = e.id.into();
                        r["picture"] = e.picture.is_some().into();
                        r
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e["id"].as_u64()));
        events.truncate(EVENTS_KEPT);
        serde_json::json!({
            "streams": self.stats.lock().unwrap().clone(),
            "records": records,
            "events": events,
            "zones": self.zones_file.is_some(),
        })
    }

    /// The picture shown when event `id` came.
    pub fn event_picture(&self, id: u64) -> Option<Arc<Vec<u8>>> {
        self.feeds.iter().find_map(|f| {
            let kept = f.events.lock().unwrap();
            kept.iter().find(|e| e.id == id)?.picture.clone()
        })
    }

    /// Keeps the events of stream `i`'s newest record.
    fn keep_events(&self, i: usize, record: &serde_json::Value) {
        let Some(events) = record["events"].as_array().filter(|e| !e.is_empty()) else {
            return;
        };
        let feed = &self.feeds[i];
        let picture = feed.jpeg.lock().unwrap().1.clone();
        let mut kept = feed.events.lock().unwrap();
        for e in events {
            let mut r = e.clone();
            r["stream"] = feed.name.clone().into();
            r["time_s"] = record["pts_ns"]
                .as_u64()
                .map(|ns| ((ns / 1_000_000) as f64 / 1e3).into())
                .unwrap_or_default();
            kept.push_back(Event {
                id: self.next_event.fetch_add(1, Ordering::SeqCst),
                record: r,
                picture: picture.clone(),
            });
            if kept.len() > EVENTS_KEPT {
                kept.pop_front();
            }
        }
    }
}

/// The running live view.
pub struct LiveView {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub url: String,
}

impl LiveView {
    /// Listens on `bind:port` for streams named `names`.
    pub fn start(
        bind: IpAddr,
        port: u16,
        names: &[String],
        zones_file: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let server = tiny_http::Server::http((bind, port))
            .map_err(|e| anyhow::anyhow!("--serve: cannot listen on {bind}:{port}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .context("the live view has no IP address")?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let shared = Arc::new(Shared {
            token: crate::web::token()?,
            feeds: names
                .iter()
                .map(|n| Feed {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect(),
            zones_file,
            stats: Mutex::new(serde_json::Value::Array(Vec::new())),
            closed: AtomicBool::new(false),
            streaming: AtomicUsize::new(0),
            next_event: std::sync::atomic::AtomicU64::new(1),
        });
        let url = format!("http://{host}:{}/?token={}", addr.port(), shared.token);
        let server = Arc::new(server);
        let (s, sh) = (server.clone(), shared.clone());
        let thread = std::thread::Builder::new()
            .name("live-view".into())
            .spawn(move || server::serve(&s, sh))
            .context("cannot start the live view")?;
        Ok(Self {
            shared,
            server,
            thread: Some(thread),
            url,
        })
    }

    /// Feeds stream `i`'s preview and records from the graph.
    pub fn attach(&self, pipeline: &gst::Pipeline, i: usize) -> anyhow::Result<()> {
        let sink = pipeline
            .by_name(&format!("preview{i}"))
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .context("the preview sink is missing")?;
        let shared = self.shared.clone();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(map) = sample.buffer().and_then(|b| b.map_readable().ok()) {
                        let feed = &shared.feeds[i];
                        let mut latest = feed.jpeg.lock().unwrap();
                        *latest = (latest.0 + 1, Some(Arc::new(map.to_vec())));
                        feed.fresh.notify_all();
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        // The record of each drawn frame, as detlog writes it: what the page's table shows.
        let tee = pipeline
            .by_name(&format!("fanout{i}"))
            .context("the preview tee is missing")?;
        let pad = tee
            .static_pad("sink")
            .context("the preview tee has no input")?;
        let (shared, name) = (self.shared.clone(), self.shared.feeds[i].name.clone());
        let frames = AtomicUsize::new(0);
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(buf) = info.buffer() {
                let n = frames.fetch_add(1, Ordering::SeqCst) as u64;
                let size = pad
                    .current_caps()
                    .map_or((0, 0), |c| gsthmg::frame::caps_size(&c));
                let dets = gsthmg::detections_from_buffer(buf);
                let line = gsthmg::detlog::frame_line(&name, n, buf, size, &dets);
                // Only a frame with line or zone events is read back here.
                if line.contains("\"events\":")
                    && let Ok(r) = serde_json::from_str::<serde_json::Value>(&line)
                {
                    shared.keep_events(i, &r);
                }
                *shared.feeds[i].record.lock().unwrap() = Some(line);
            }
            gst::PadProbeReturn::Ok
        });
        Ok(())
    }

    /// Every stream's stats, as the run's tick computes them.
    pub fn set_stats(&self, stats: serde_json::Value) {
        *self.shared.stats.lock().unwrap() = stats;
    }

    /// Ends every response and the server.
    pub fn stop(mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        for f in &self.shared.feeds {
            f.fresh.notify_all();
        }
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
