// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hmg annotate` driven like a person would: headless Chromium draws boxes with the mouse and
//! presses the seed's keys; then the label files on disk are checked. And the server's guards.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use hmg_e2e::webdriver::{Browser, http};
use hmg_e2e::*;

/// `datasets/` (drone, IR-Drone) and `pictures/` with coffee.png (already labelled), dog.jpg,
/// eagle.jpg and a symlink that leads outside the folder.
fn setup(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let out = Command::new(profile_dir().join("hmg"))
        .current_dir(&dir)
        .args(["dataset", "init", "datasets", "--names", "drone,IR-Drone"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let pictures = dir.join("pictures");
    std::fs::create_dir_all(&pictures).unwrap();
    for f in ["coffee.png", "dog.jpg", "eagle.jpg"] {
        std::fs::copy(testdata().join("images").join(f), pictures.join(f)).unwrap();
    }
    std::os::unix::fs::symlink("/etc/hostname", pictures.join("outside.jpg")).unwrap();
    std::fs::write(
        dir.join("datasets/train/labels/coffee.txt"),
        "1 0.500000 0.500000 0.200000 0.200000\n",
    )
    .unwrap();
    dir
}

/// The annotator process, killed if a test fails before it stops on its own.
struct Annotator(Child);

impl Drop for Annotator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `hmg annotate` and returns it with the URL it printed.
fn annotate(dir: &Path) -> (Annotator, String) {
    let mut child = Command::new(profile_dir().join("hmg"))
        .current_dir(dir)
        .args([
            "annotate",
            "--images",
            "pictures",
            "--dataset",
            "datasets/train",
        ])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("annotate.err")).unwrap())
        .spawn()
        .unwrap();
    let (url, printed) = annotator_url(&mut child);
    assert!(
        printed.contains("annotating 3 pictures (1 already labelled)"),
        "{printed}"
    );
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (Annotator(child), url)
}

fn wait_exit(annotator: &mut Annotator) -> std::process::ExitStatus {
    annotator_exit(&mut annotator.0)
}

/// The picture as the browser shows it: its top-left corner and scale in CSS pixels, found in a
/// screenshot, with the screenshot itself.
struct Shown {
    left: f64,
    top: f64,
    scale: f64,
    dpr: f64,
    /// The canvas, in screenshot pixels: x0, y0, x1, y1.
    canvas: (u32, u32, u32, u32),
    pixels: image::RgbImage,
}

impl Shown {
    fn screenshot(browser: &Browser) -> image::RgbImage {
        image::load_from_memory(&browser.screenshot())
            .expect("a PNG screenshot")
            .to_rgb8()
    }

    /// Inside the canvas (placed by the browser's layout), the rows and columns mostly unlike
    /// the canvas's empty corner hold the picture.
    fn find(browser: &Browser, picture: (u32, u32)) -> Self {
        let pixels = Self::screenshot(browser);
        let dpr = browser
            .script("return window.devicePixelRatio")
            .as_f64()
            .unwrap();
        let r = browser.script(
            "const r = document.getElementById('canvas').getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];",
        );
        let px = |i: usize| (r[i].as_f64().unwrap() * dpr).round() as u32;
        let (cx0, cy0, cx1, cy1) = (
            px(0),
            px(1),
            px(2).min(pixels.width()),
            px(3).min(pixels.height()),
        );
        let empty = *pixels.get_pixel(cx0 + 1, cy0 + 1);
        let differs = |x: u32, y: u32| {
            let p = pixels.get_pixel(x, y);
            p.0.iter().zip(empty.0).any(|(a, b)| a.abs_diff(b) > 8)
        };
        let rows: Vec<u32> = (cy0..cy1)
            .filter(|&y| (cx0..cx1).filter(|&x| differs(x, y)).count() * 4 > (cx1 - cx0) as usize)
            .collect();
        let cols: Vec<u32> = (cx0..cx1)
            .filter(|&x| (cy0..cy1).filter(|&y| differs(x, y)).count() * 4 > (cy1 - cy0) as usize)
            .collect();
        let (x0, x1) = (cols[0], *cols.last().unwrap() + 1);
        let (y0, y1) = (rows[0], *rows.last().unwrap() + 1);
        let scale = (x1 - x0) as f64 / picture.0 as f64 / dpr;
        assert!(
            ((y1 - y0) as f64 / dpr / scale - picture.1 as f64).abs() <= 2.0,
            "the picture's shape on screen ({}×{}) is not {picture:?}'s",
            x1 - x0,
            y1 - y0
        );
        Self {
            left: x0 as f64 / dpr,
            top: y0 as f64 / dpr,
            scale,
            dpr,
            canvas: (cx0, cy0, cx1, cy1),
            pixels,
        }
    }
}

/// The bounding box, in screenshot pixels, of what differs between two screenshots inside
/// `area` (x0, y0, x1, y1).
fn changed_region(
    before: &image::RgbImage,
    after: &image::RgbImage,
    (ax0, ay0, ax1, ay1): (u32, u32, u32, u32),
) -> (f64, f64, f64, f64) {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in after.enumerate_pixels() {
        if (ax0..ax1).contains(&x) && (ay0..ay1).contains(&y) && before.get_pixel(x, y) != p {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    assert!(x0 <= x1, "nothing changed on screen");
    (x0 as f64, y0 as f64, x1 as f64, y1 as f64)
}

#[test]
fn test_mouse_and_keys_write_yolo_labels() {
    let dir = setup("annotate-browser");
    let (mut child, url) = annotate(&dir);
    let browser = Browser::start(dir.join("profile"));
    browser.goto(&url);
    // Resumes at the first picture without labels: dog.jpg (768×576).
    browser.wait_for(
        "window.hmgReady && document.getElementById('file').textContent.startsWith('dog.jpg')",
    );
    // Where the picture really is on screen, found in a screenshot (not from the page's own
    // account of its transform, which would share its mistakes).
    let shown = Shown::find(&browser, (768, 576));
    let (scale, left, top) = (shown.scale, shown.left, shown.top);
    let v = browser.script("return window.hmgView;");
    let f = |k: &str| v[k].as_f64().unwrap();
    assert!(
        (f("left") + f("ox") - left).abs() <= 1.0
            && (f("top") + f("oy") - top).abs() <= 1.0
            && (f("scale") - scale).abs() * 768.0 <= 2.0,
        "the page says it drew the picture at {v}, the screenshot shows it at ({left}, {top}) scaled {scale}"
    );
    let at = |x: f64, y: f64| (left + x * scale, top + y * scale);

    let before = shown.pixels.clone();
    browser.drag(at(100.0, 80.0), at(300.0, 280.0)); // class 0 (current)
    // The box is drawn where the mouse went: what changed on screen is its outline (and its
    // label above it).
    let after = Shown::screenshot(&browser);
    let (x1, y1, x2, y2) = changed_region(&before, &after, shown.canvas);
    let (want1, want2) = (at(100.0, 80.0), at(300.0, 280.0));
    let d = shown.dpr;
    assert!(
        (x1 - want1.0 * d).abs() <= 6.0
            && (x2 - want2.0 * d).abs() <= 6.0
            && (y2 - want2.1 * d).abs() <= 6.0
            && y1 <= want1.1 * d + 2.0
            && y1 >= (want1.1 - 30.0) * d,
        "drawn at ({x1}, {y1})–({x2}, {y2}) screen pixels, dragged from {want1:?} to {want2:?}"
    );
    browser.key("1");
    browser.drag(at(400.0, 200.0), at(700.0, 500.0)); // class 1
    browser.drag(at(20.0, 20.0), at(60.0, 60.0)); // a mistake…
    browser.key("\u{E003}"); // … Backspace removes it
    assert!(
        browser
            .script("return document.getElementById('progress').textContent")
            .as_str()
            .unwrap()
            .contains("2 of 3 · 1 labelled · unsaved")
    );
    browser.key(" "); // Space: save, next
    browser.wait_for(
        "window.hmgReady && document.getElementById('file').textContent.startsWith('eagle.jpg')",
    );
    browser.drag(at(10.0, 10.0), at(200.0, 200.0));
    browser.key("\u{E00C}"); // Escape: quit without saving eagle.jpg
    browser.wait_for("window.hmgClosed === true");
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status}");

    let (w, h) = (768.0f64, 576.0f64);
    let lines = label_lines(&dir.join("datasets/train/labels/dog.txt"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    let expected = [
        [0.0, 200.0 / w, 180.0 / h, 200.0 / w, 200.0 / h],
        [1.0, 550.0 / w, 350.0 / h, 300.0 / w, 300.0 / h],
    ];
    // One screen pixel of rounding in the mouse positions, at this zoom.
    let tolerance = 1.5 / scale / w.min(h);
    for (line, want) in lines.iter().zip(expected) {
        assert_eq!(line[0], want[0]);
        for (got, want) in line[1..].iter().zip(&want[1..]) {
            assert!((got - want).abs() < tolerance, "{line:?} vs {want:?}");
        }
    }
    let text = std::fs::read_to_string(dir.join("datasets/train/labels/dog.txt")).unwrap();
    assert!(
        text.lines()
            .all(|l| l.split(' ').skip(1).all(|v| v.len() == 8)),
        "6 decimals: {text}"
    );
    assert_eq!(
        std::fs::read(dir.join("datasets/train/images/dog.jpg")).unwrap(),
        std::fs::read(dir.join("pictures/dog.jpg")).unwrap(),
        "the picture is copied into the dataset"
    );
    assert!(
        !dir.join("datasets/train/labels/eagle.txt").exists(),
        "Escape saved nothing"
    );
    assert!(!dir.join("datasets/train/images/eagle.jpg").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("datasets/train/labels/coffee.txt")).unwrap(),
        "1 0.500000 0.500000 0.200000 0.200000\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("datasets/train/labels"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn test_server_refuses_missing_tokens_traversal_and_links_outside() {
    let dir = setup("annotate-guards");
    let (mut child, url) = annotate(&dir);
    let (base, token) = url.split_once("/?token=").unwrap();
    let agent = http();
    let get = |path: &str, token: Option<&str>| {
        let mut req = agent.get(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.header("X-Hmg-Token", t);
        }
        let mut r = req.call().unwrap();
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 24)
            .read_to_vec()
            .unwrap();
        (
            r.status().as_u16(),
            String::from_utf8_lossy(&body).into_owned(),
        )
    };
    assert_eq!(get("/", None).0, 403);
    assert_eq!(get("/api/state", None).0, 403);
    assert_eq!(
        get("/api/state", Some("0123456789abcdef0123456789abcdef")).0,
        403
    );
    assert_eq!(get("/api/image/0", Some(&token[..token.len() - 1])).0, 403);
    let (code, state) = get("/api/state", Some(token));
    assert_eq!(code, 200);
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let names: Vec<&str> = state["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["coffee.png", "dog.jpg", "eagle.jpg"],
        "the link outside is not offered"
    );
    assert_eq!(state["start"], 1);
    for path in [
        "/api/image/3",
        "/api/image/-1",
        "/api/image/../../../etc/passwd",
        "/api/image/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/../../etc/passwd",
        "/pictures/dog.jpg",
        "/api/labels/9",
    ] {
        assert_eq!(get(path, Some(token)).0, 404, "{path}");
    }
    let (code, body) = get(&format!("/api/image/1?token={token}"), None);
    assert_eq!((code, body.is_empty()), (200, false));
    // A label for a class that does not exist is refused and nothing is written.
    let mut r = agent
        .post(format!("{base}/api/labels/2"))
        .header("X-Hmg-Token", token)
        .send(r#"[{"class":5,"cx":0.5,"cy":0.5,"w":0.1,"h":0.1}]"#)
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    assert!(!dir.join("datasets/train/labels/eagle.txt").exists());
    // Boxes all outside the picture would replace coffee.png's labels with none: refused.
    let coffee = dir.join("datasets/train/labels/coffee.txt");
    let before = std::fs::read_to_string(&coffee).unwrap();
    let r = agent
        .post(format!("{base}/api/labels/0"))
        .header("X-Hmg-Token", token)
        .send(r#"[{"class":0,"cx":5.0,"cy":5.0,"w":0.1,"h":0.1}]"#)
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(std::fs::read_to_string(&coffee).unwrap(), before);
    // Raw requests a hostile page or client could make: refused before the token is looked at.
    let authority = base.trim_start_matches("http://").to_string();
    let raw = |request: String| -> u16 {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&authority).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply).into_owned();
        reply
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status in {reply}"))
    };
    let with_token = format!("X-Hmg-Token: {token}\r\nConnection: close\r\n");
    // DNS rebinding: the page's own host name in Host.
    assert_eq!(
        raw(format!(
            "GET /api/state HTTP/1.1\r\nHost: evil.example:{}\r\n{with_token}\r\n",
            authority.rsplit(':').next().unwrap()
        )),
        421
    );
    // A cross-site POST carries the other site's Origin.
    assert_eq!(
        raw(format!(
            "POST /api/quit HTTP/1.1\r\nHost: {authority}\r\nOrigin: http://evil.example\r\nContent-Length: 0\r\n{with_token}\r\n"
        )),
        403
    );
    // Sizes: a huge address, a huge declared body.
    assert_eq!(
        raw(format!(
            "GET /{} HTTP/1.1\r\nHost: {authority}\r\n{with_token}\r\n",
            "a".repeat(20_000)
        )),
        414
    );
    assert_eq!(
        raw(format!(
            "POST /api/labels/1 HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 900000000\r\n{with_token}\r\n"
        )),
        413
    );
    // The page's own requests still pass.
    assert_eq!(
        raw(format!(
            "GET /api/state HTTP/1.1\r\nHost: {authority}\r\nOrigin: http://{authority}\r\n{with_token}\r\n"
        )),
        200
    );
    let r = agent
        .post(format!("{base}/api/quit"))
        .header("X-Hmg-Token", token)
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn test_annotate_refuses_bad_arguments() {
    let dir = setup("annotate-usage");
    let run = |args: &[&str]| {
        Command::new(profile_dir().join("hmg"))
            .current_dir(&dir)
            .arg("annotate")
            .args(args)
            .output()
            .unwrap()
    };
    for (args, message) in [
        (
            vec!["--images", "nowhere", "--dataset", "datasets/train"],
            "does not exist",
        ),
        (
            vec!["--images", "pictures", "--dataset", "other/train"],
            "no class names",
        ),
        (
            vec!["--images", "datasets", "--dataset", "datasets/train"],
            "has no pictures",
        ),
        (
            vec![
                "--images",
                "pictures",
                "--dataset",
                "datasets/train",
                "--bind",
                "localhost:1",
            ],
            "is not an IP address",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(message), "{args:?}: {}", text(&out));
    }
    // dog.jpg and dog.png would share labels/dog.txt: refused before anything is saved, whether
    // both are in the pictures folder or one is in the dataset already.
    std::fs::write(
        dir.join("pictures/dog.png"),
        std::fs::read(testdata().join("images/coffee.png")).unwrap(),
    )
    .unwrap();
    let out = run(&["--images", "pictures", "--dataset", "datasets/train"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("would share labels/dog.txt") && text(&out).contains("rename one"),
        "{}",
        text(&out)
    );
    std::fs::rename(
        dir.join("pictures/dog.png"),
        dir.join("datasets/train/images/dog.png"),
    )
    .unwrap();
    let out = run(&["--images", "pictures", "--dataset", "datasets/train"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("would share labels/dog.txt"),
        "{}",
        text(&out)
    );
    // dataset verify names it as an error.
    std::fs::copy(
        dir.join("pictures/dog.jpg"),
        dir.join("datasets/train/images/dog.jpg"),
    )
    .unwrap();
    let out = Command::new(profile_dir().join("hmg"))
        .current_dir(&dir)
        .args(["dataset", "verify", "datasets"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("same-stem"), "{}", text(&out));
}

#[test]
fn test_classes_are_given_once_and_remembered_in_data_yaml() {
    let dir = setup("annotate-classes");
    // The seed's layout: pictures in captured_images/, the dataset named alone.
    std::fs::rename(dir.join("pictures"), dir.join("captured_images")).unwrap();
    let start = |args: &[&str]| {
        let mut child = Command::new(profile_dir().join("hmg"))
            .current_dir(&dir)
            .arg("annotate")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut printed = String::new();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            printed += &line;
            printed.push('\n');
            if line.starts_with("open ") {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        printed
    };
    let printed = start(&["--dataset", "new/train", "--classes", "drone,bird"]);
    assert!(
        printed.contains("next time --dataset alone is enough"),
        "{printed}"
    );
    let yaml = dir.join("new/data.yaml");
    let written = std::fs::read_to_string(&yaml).unwrap();
    assert!(
        written.contains("0: drone\n") && written.contains("1: bird\n"),
        "{written}"
    );
    // Then the dataset alone, with the remembered names.
    let printed = start(&["--dataset", "new/train"]);
    assert!(printed.contains("annotating 3 pictures"), "{printed}");
    // Other names for a dataset that has some: refused, nothing changed.
    let before = std::fs::read_to_string(&yaml).unwrap();
    let out = Command::new(profile_dir().join("hmg"))
        .current_dir(&dir)
        .args(["annotate", "--dataset", "new/train", "--classes", "cat"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("already names the classes drone, bird"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read_to_string(&yaml).unwrap(), before);
}
