// SPDX-License-Identifier: MIT OR Apache-2.0
//! The live view's routes. Every one needs the run's token; nothing else is served.
//!
//! - `GET /` the page
//! - `GET /mjpeg/<i>` stream `i` as MJPEG (multipart/x-mixed-replace)
//! - `GET /frame/<i>.jpg` its newest picture
//! - `GET /event/<id>.jpg` the picture shown when a line or zone event came
//! - `GET /state` stats and the newest records, as JSON
//! - `GET /events` the same, as Server-Sent Events twice a second
//! - `GET /zones`, `POST /zones` the zones file of --zones, read and written (atomically)

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tiny_http::{Method, Request, Response, Server, StatusCode};

use super::Shared;
use crate::web::{authorized, header, json, refuse_early, status};

const PAGE: &str = include_str!("page.html");
/// A zones file is a few KiB; the page never sends more.
const MAX_BODY: u64 = 1 << 20;
/// Streaming responses open at once, at most (each is a thread).
const MAX_STREAMING: usize = 32;
const EVENTS_EVERY: Duration = Duration::from_millis(500);

pub fn serve(server: &Server, shared: Arc<Shared>) {
    for request in server.incoming_requests() {
        if shared.closed() {
            let _ = request.respond(status(503, "the run is over"));
            break;
        }
        handle(&shared, request);
    }
}

fn handle(shared: &Arc<Shared>, mut request: Request) {
    if let Some((code, text)) = refuse_early(&request, MAX_BODY) {
        let _ = request.respond(status(code, &text));
        return;
    }
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if !authorized(&request, query, &shared.token) {
        let _ = request.respond(status(
            403,
            "missing or wrong token: open the link hmg detect printed",
        ));
        return;
    }
    let stream_index = |s: &str| s.parse::<usize>().ok().filter(|i| *i < shared.feeds.len());
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    match (method, parts.as_slice()) {
        (Method::Get, [""]) => {
            let _ = request.respond(
                Response::from_data(PAGE.as_bytes().to_vec())
                    .with_header(header("Content-Type", "text/html; charset=utf-8"))
                    .with_header(header("Cache-Control", "no-store")),
            );
        }
        (Method::Get, ["frame", name]) => match name.strip_suffix(".jpg").and_then(stream_index) {
            Some(i) => match shared.jpeg_after(i, 0, Duration::ZERO) {
                Some((_, jpeg)) => {
                    let _ = request.respond(
                        Response::from_data(jpeg.to_vec())
                            .with_header(header("Content-Type", "image/jpeg"))
                            .with_header(header("Cache-Control", "no-store")),
                    );
                }
                None => {
                    let _ = request.respond(status(404, "no picture yet"));
                }
            },
            None => {
                let _ = request.respond(status(404, "no such stream"));
            }
        },
        (Method::Get, ["event", name]) => {
            let picture = name
                .strip_suffix(".jpg")
                .and_then(|id| id.parse::<u64>().ok())
                .and_then(|id| shared.event_picture(id));
            let _ = match picture {
                Some(jpeg) => request.respond(
                    Response::from_data(jpeg.to_vec())
                        .with_header(header("Content-Type", "image/jpeg")),
                ),
                None => request.respond(status(
                    404,
                    "no such event picture (only the latest are kept)",
                )),
            };
        }
        (Method::Get, ["state"]) => {
            let _ = request.respond(json(&shared.snapshot()));
        }
        (Method::Get, ["mjpeg", i]) => match stream_index(i) {
            Some(i) => stream(shared, request, move |sh, last| mjpeg_part(sh, i, last)),
            None => {
                let _ = request.respond(status(404, "no such stream"));
            }
        },
        (Method::Get, ["events"]) => stream(shared, request, |sh, _| {
            std::thread::sleep(EVENTS_EVERY);
            (!sh.closed()).then(|| (0, format!("data: {}\n\n", sh.snapshot()).into_bytes()))
        }),
        (Method::Get, ["zones"]) => {
            let text = shared
                .zones_file
                .as_ref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .unwrap_or_else(|| serde_json::json!({"lines": [], "zones": []}));
            let _ = request.respond(json(&text));
        }
        (Method::Post, ["zones"]) => {
            let outcome = save_zones(shared, &mut request);
            let _ = match outcome {
                Ok(path) => request.respond(json(&serde_json::json!({"saved": path}))),
                Err((code, text)) => request.respond(status(code, &text)),
            };
        }
        _ => {
            let _ = request.respond(status(404, "not found"));
        }
    }
}

/// Checks the page's zones and writes them over the --zones file: detzone reads it again within
/// a second.
fn save_zones(shared: &Shared, request: &mut Request) -> Result<String, (u16, String)> {
    let Some(path) = &shared.zones_file else {
        return Err((
            409,
            "this run has no zones file: start hmg detect with --zones FILE to edit lines and zones"
                .into(),
        ));
    };
    let mut body = String::new();
    request
        .as_reader()
        .take(MAX_BODY)
        .read_to_string(&mut body)
        .map_err(|e| (400, format!("cannot read the request: {e}")))?;
    let config = hmg_detect::zones::ZoneConfig::parse(&body).map_err(|e| (400, e))?;
    let text = serde_json::to_string_pretty(&config).map_err(|e| (500, e.to_string()))?;
    crate::atomic::write_atomic(path, |w| Ok(std::io::Write::write_all(w, text.as_bytes())?))
        .map_err(|e| (500, format!("cannot write '{}': {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// One MJPEG part, the next picture of stream `i` after `last`.
fn mjpeg_part(shared: &Shared, i: usize, last: u64) -> Option<(u64, Vec<u8>)> {
    loop {
        if shared.closed() {
            return None;
        }
        if let Some((seq, jpeg)) = shared.jpeg_after(i, last, Duration::from_secs(1)) {
            let mut part = format!(
                "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpeg.len()
            )
            .into_bytes();
            part.extend_from_slice(&jpeg);
            part.extend_from_slice(b"\r\n");
            return Some((seq, part));
        }
    }
}

/// Answers `request` with a body that never ends (until the run does), made part by part by
/// `next(shared, last sequence)`, in a thread of its own.
fn stream(
    shared: &Arc<Shared>,
    request: Request,
    next: impl Fn(&Shared, u64) -> Option<(u64, Vec<u8>)> + Send + 'static,
) {
    if shared.streaming.load(Ordering::SeqCst) >= MAX_STREAMING {
        let _ = request.respond(status(503, "too many live views open"));
        return;
    }
    let content_type = if request.url().starts_with("/mjpeg") {
        "multipart/x-mixed-replace; boundary=frame"
    } else {
        "text/event-stream"
    };
    let shared = shared.clone();
    shared.streaming.fetch_add(1, Ordering::SeqCst);
    let spawned = std::thread::Builder::new()
        .name("live-view-stream".into())
        .spawn(move || {
            let body = Parts {
                shared: shared.clone(),
                next,
                last: 0,
                pending: Vec::new(),
                at: 0,
            };
            let response = Response::new(
                StatusCode(200),
                vec![
                    header("Content-Type", content_type),
                    header("Cache-Control", "no-store"),
                ],
                body,
                None,
                None,
            );
            // A client that stops reading blocks this thread only, holding one picture.
            let _ = request.respond(response);
            shared.streaming.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        eprintln!("warning: the live view cannot start another stream");
    }
}

/// A never-ending body made of parts.
struct Parts<F> {
    shared: Arc<Shared>,
    next: F,
    last: u64,
    pending: Vec<u8>,
    at: usize,
}

impl<F: Fn(&Shared, u64) -> Option<(u64, Vec<u8>)>> Read for Parts<F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.pending.len() {
            match (self.next)(&self.shared, self.last) {
                Some((seq, part)) => {
                    self.last = seq;
                    self.pending = part;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
