// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg monitor --serve`: the fleet on one page. Every device publishing to the broker, its
//! streams, FPS, detections per class, counts and when it was last heard from, refreshed every
//! second. The same guards as the live view: a per-run token in the link, loopback by default.
//!
//! - `GET /` the page
//! - `GET /state` the table as JSON (what `hmg monitor --json` prints, plus seconds since seen)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tiny_http::{Method, Response, Server};

use crate::web::{authorized, header, json, refuse_early, status};

const PAGE: &str = include_str!("fleet_page.html");

/// The page's server; stops with the monitor.
pub struct FleetPage {
    state: Arc<Mutex<serde_json::Value>>,
    server: Arc<Server>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub url: String,
}

impl FleetPage {
    pub fn start(bind: SocketAddr) -> anyhow::Result<Self> {
        let server = Server::http(bind)
            .map_err(|e| anyhow::anyhow!("--serve: cannot listen on {bind}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .context("the fleet page has no IP address")?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let token = crate::web::token()?;
        let url = format!("http://{host}:{}/?token={token}", addr.port());
        let state = Arc::new(Mutex::new(serde_json::json!({"streams": []})));
        let server = Arc::new(server);
        let (s, st) = (server.clone(), state.clone());
        let thread = std::thread::Builder::new()
            .name("fleet-page".into())
            .spawn(move || serve(&s, &st, &token))
            .context("cannot start the fleet page")?;
        Ok(Self {
            state,
            server,
            thread: Some(thread),
            url,
        })
    }

    /// What the page shows from now on.
    pub fn set(&self, state: serde_json::Value) {
        *self.state.lock().unwrap() = state;
    }
}

impl Drop for FleetPage {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &Server, state: &Mutex<serde_json::Value>, token: &str) {
    for request in server.incoming_requests() {
        if let Some((code, text)) = refuse_early(&request, 0) {
            let _ = request.respond(status(code, &text));
            continue;
        }
        let url = request.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        if !authorized(&request, query, token) {
            let _ = request.respond(status(
                403,
                "missing or wrong token: open the link hmg monitor printed",
            ));
            continue;
        }
        let _ = match (request.method(), path) {
            (Method::Get, "/") => request.respond(
                Response::from_data(PAGE.as_bytes().to_vec())
                    .with_header(header("Content-Type", "text/html; charset=utf-8"))
                    .with_header(header("Cache-Control", "no-store")),
            ),
            (Method::Get, "/state") => {
                let body = state.lock().unwrap().clone();
                request.respond(json(&body).with_header(header("Cache-Control", "no-store")))
            }
            _ => request.respond(status(404, "not found")),
        };
    }
}
