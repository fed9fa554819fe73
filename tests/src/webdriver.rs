// SPDX-License-Identifier: MIT OR Apache-2.0
//! Just enough of the W3C WebDriver protocol to drive headless Chromium through chromedriver:
//! open a page, run a script, send mouse and key actions.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::free_port;

/// An HTTP client for localhost: no proxy, HTTP errors returned as responses.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A chromedriver process with one headless Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: std::path::PathBuf,
}

impl Browser {
    /// Panics when chromium or chromedriver is missing: scripts/setup installs both.
    pub fn start(profile: std::path::PathBuf) -> Self {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromium is not installed: run scripts/setup");
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: run scripts/setup");
        let agent = http();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1200,800", format!("--user-data-dir={}", profile.display()),
            ]}
        }}});
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = browser.post("/session", caps);
        browser.session = v["sessionId"].as_str().expect("a session").to_string();
        browser
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut r = self.agent.post(&url).send_json(&body).unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        assert!(r.status().is_success(), "WebDriver {path} failed: {v}");
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
    }

    /// Waits until `condition` (a JS expression) is true.
    pub fn wait_for(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.script(&format!("return !!({condition});")) != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Left-button drag between two viewport points.
    pub fn drag(&self, from: (f64, f64), to: (f64, f64)) {
        let moves = json!([
            {"type": "pointerMove", "duration": 0, "origin": "viewport", "x": from.0.round() as i64, "y": from.1.round() as i64},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerMove", "duration": 50, "origin": "viewport", "x": ((from.0 + to.0) / 2.0).round() as i64, "y": ((from.1 + to.1) / 2.0).round() as i64},
            {"type": "pointerMove", "duration": 50, "origin": "viewport", "x": to.0.round() as i64, "y": to.1.round() as i64},
            {"type": "pointerUp", "button": 0},
        ]);
        self.post(
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": moves}]}),
        );
    }

    /// A left click at a viewport point.
    pub fn click(&self, at: (f64, f64)) {
        let actions = json!([
            {"type": "pointerMove", "duration": 0, "origin": "viewport", "x": at.0.round() as i64, "y": at.1.round() as i64},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0},
        ]);
        self.post(
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]}),
        );
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let url = format!("{}/session/{}/screenshot", self.base, self.session);
        let mut r = self.agent.get(&url).call().unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(v["value"].as_str().expect("a screenshot"))
            .expect("base64 PNG")
    }

    /// Presses and releases one key (WebDriver key value: "1", " ", "\u{E003}" Backspace, …).
    pub fn key(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}
            ]}]}),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
