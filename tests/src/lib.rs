// SPDX-License-Identifier: MIT OR Apache-2.0
//! Helpers for the end-to-end tests: where the built binaries are, a private plugin folder.

pub mod debian;
pub mod mosquitto;
pub mod pis;
pub mod rtsp;
pub mod sshd;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cargo profile folder the tests were built into (`target/release` under scripts/test).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn testdata() -> PathBuf {
    std::env::var_os("HMG_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/testdata"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for servers a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hmg-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A folder holding only our plugin, plus a private registry, for gst-launch/gst-inspect.
pub fn gst_command(tool: &str, dir: &Path) -> Command {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        profile_dir().join("libgsthmg.so"),
        plugins.join("libgsthmg.so"),
    )
    .expect("libgsthmg.so built");
    let mut c = Command::new(tool);
    c.env("GST_PLUGIN_PATH", &plugins)
        .env("GST_REGISTRY", dir.join("registry.bin"));
    c
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Asserts that `mp4` is a finalized file (qtdemux reads it to the end); `dir` is scratch space.
pub fn assert_mp4_playable(mp4: &Path, dir: &Path) {
    let demux = gst_command("gst-launch-1.0", dir)
        .args(["-q", "filesrc"])
        .arg(format!("location={}", mp4.display()))
        .args(["!", "qtdemux", "!", "fakesink"])
        .output()
        .unwrap();
    assert!(
        demux.status.success(),
        "{}: {}",
        mp4.display(),
        text(&demux)
    );
}

/// The Python of the ultralytics venv hmg manages (`$HMG_ULTRALYTICS_VENV`, else the cache),
/// with ultralytics' offline settings, for reference runs in tests.
pub fn ultralytics_python(scratch: &Path) -> Command {
    let venv = std::env::var_os("HMG_ULTRALYTICS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
                .join("hmg/venvs/ultralytics")
        });
    let mut c = Command::new(venv.join("bin/python"));
    c.env("YOLO_OFFLINE", "1")
        .env("YOLO_AUTOINSTALL", "0")
        .env("YOLO_CONFIG_DIR", scratch.join("yolo-config"))
        .env("MPLCONFIGDIR", scratch.join("mpl"));
    c
}

/// The ultralytics venv (scripts/setup-ultralytics made it).
pub fn ultralytics_venv() -> PathBuf {
    let python = ultralytics_python(Path::new("/tmp"));
    PathBuf::from(python.get_program())
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf()
}

/// A venv-shaped folder whose python is the ultralytics venv's, with the DFC TEST DOUBLE first
/// on the module path.
pub fn fake_sdk(dir: &Path) -> PathBuf {
    let sdk = dir.join("fake-dfc-venv");
    std::fs::create_dir_all(sdk.join("bin")).unwrap();
    let python = sdk.join("bin/python");
    std::fs::write(
        &python,
        format!(
            "#!/bin/sh\nPYTHONPATH=\"{}${{PYTHONPATH:+:$PYTHONPATH}}\" exec \"{}\" \"$@\"\n",
            repo().join("tests/dfc-double").display(),
            ultralytics_venv().join("bin/python").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    sdk
}

/// Reads a started `hmg annotate`'s output up to the link it prints; returns the link and what it
/// printed before it, and keeps draining the rest (so hmg's later lines never meet a closed pipe).
pub fn annotator_url(child: &mut std::process::Child) -> (String, String) {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout piped")).lines();
    let mut printed = String::new();
    let url = loop {
        let line = lines.next().expect("hmg annotate printed its URL").unwrap();
        printed += &line;
        if let Some(url) = line.strip_prefix("open ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (url, printed)
}

/// Waits up to 20 s for a stopping `hmg annotate` to exit (killed, and the test failed, if not).
pub fn annotator_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("hmg annotate did not stop");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The numbers of each line of a YOLO label file.
pub fn label_lines(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// The half-written files (`*.part`, whatever their random names) left in `dir`.
pub fn part_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}

/// A small deterministic generator (no extra crate for a test's random shapes).
pub struct Lcg(pub u64);

impl Lcg {
    /// A number in 0..n.
    pub fn below(&mut self, n: u32) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as u32
    }

    /// A number in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.below(1 << 24) as f32 / (1u32 << 24) as f32
    }
}

/// `count` 128x96 PNG pictures of circles (class 0) and squares (class 1) on plain backgrounds,
/// with YOLO labels; every 16th picture is a background with an empty label file.
pub fn synthetic_shapes(images: &Path, labels: &Path, count: usize, seed: u64) {
    use image::{Rgb, RgbImage};
    const W: u32 = 128;
    const H: u32 = 96;
    let mut rng = Lcg(seed);
    std::fs::create_dir_all(images).unwrap();
    std::fs::create_dir_all(labels).unwrap();
    for i in 0..count {
        let bg = [
            rng.below(256) as u8,
            rng.below(256) as u8,
            rng.below(256) as u8,
        ];
        let fg = bg.map(|v| 255 - v);
        let mut img = RgbImage::from_pixel(W, H, Rgb(bg));
        let mut lines = String::new();
        let objects = if i % 16 == 15 { 0 } else { 1 + rng.below(2) };
        for _ in 0..objects {
            let class = rng.below(2);
            let s = 20 + rng.below(28);
            let (x0, y0) = (rng.below(W - s), rng.below(H - s));
            let r = s as f32 / 2.0;
            let (cx, cy) = (x0 as f32 + r, y0 as f32 + r);
            for y in y0..y0 + s {
                for x in x0..x0 + s {
                    let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                    if class == 1 || dx * dx + dy * dy <= r * r {
                        img.put_pixel(x, y, Rgb(fg));
                    }
                }
            }
            lines.push_str(&format!(
                "{class} {:.6} {:.6} {:.6} {:.6}\n",
                cx / W as f32,
                cy / H as f32,
                s as f32 / W as f32,
                s as f32 / H as f32
            ));
        }
        img.save(images.join(format!("{i:03}.png"))).unwrap();
        std::fs::write(labels.join(format!("{i:03}.txt")), lines).unwrap();
    }
}

/// Runs a Python snippet in the ultralytics venv with `args`; the snippet prints one line
/// `@json <value>`, which is returned parsed (the rest of its output is ultralytics' chatter).
pub fn python_json(scratch: &Path, script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = ultralytics_python(scratch)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t
        .lines()
        .find_map(|l| l.strip_prefix("@json "))
        .unwrap_or_else(|| panic!("no @json line: {t}"));
    serde_json::from_str(line).unwrap()
}

/// `hmg` (the built binary) run in `dir`, with the onnxruntime library scripts/setup fetched.
pub fn hmg_command(dir: &Path) -> Command {
    let mut c = Command::new(profile_dir().join("hmg"));
    c.current_dir(dir).env(
        "ORT_DYLIB_PATH",
        repo().join(".local/onnxruntime/libonnxruntime.so"),
    );
    c
}

/// The real pretrained YOLOv8n checkpoint scripts/fetch-test-weights keeps (scripts/test runs it).
pub fn pretrained_checkpoint() -> PathBuf {
    let out = Command::new(repo().join("scripts/fetch-test-weights"))
        .output()
        .expect("scripts/fetch-test-weights runs");
    assert!(
        out.status.success(),
        "scripts/fetch-test-weights failed: {}",
        text(&out)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A local HTTP server standing in for ultralytics' asset release: it serves the files of
/// `dir` (a TEST DOUBLE of the download, not of the weights: those are a real checkpoint).
pub struct AssetServer(std::process::Child, pub u16);

impl AssetServer {
    pub fn start(dir: &Path) -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        AssetServer(child, port)
    }
}

impl Drop for AssetServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The run folders `hmg detect` made under `out`, oldest first (time-stamped folders; `out` also
/// holds status.json and, with --clips or --capture, folders shared by every run). None when `out`
/// does not exist (yet).
pub fn detect_run_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.retain(|p| {
        p.is_dir()
            && p.file_name().is_some_and(|n| {
                n.to_string_lossy()
                    .starts_with(|c: char| c.is_ascii_digit())
            })
    });
    dirs.sort();
    dirs
}

/// The single run folder `hmg detect` made under `out`.
pub fn detect_run_dir(out: &Path) -> PathBuf {
    let dirs = detect_run_dirs(out);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// The records of a JSON-lines file (detlog's, hmg detect's).
pub fn read_json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `graph` (a gst-launch-1.0 description without spaces in its paths) with our plugin and
/// the onnxruntime library scripts/setup fetched; it must succeed.
pub fn launch_graph(dir: &Path, graph: &str) {
    let run = gst_command("gst-launch-1.0", dir)
        .env(
            "ORT_DYLIB_PATH",
            repo().join(".local/onnxruntime/libonnxruntime.so"),
        )
        .arg("-q")
        .args(graph.split(' '))
        .output()
        .unwrap();
    assert!(run.status.success(), "{graph}: {}", text(&run));
}

/// Detections per label over every frame of a reference file's video (ultralytics' own run).
pub fn reference_video_labels(file: &str) -> std::collections::BTreeMap<String, usize> {
    let path = testdata().join("reference").join(file);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut labels = std::collections::BTreeMap::new();
    for frame in r["video"]["frames"].as_array().unwrap() {
        for d in frame["detections"].as_array().unwrap() {
            *labels
                .entry(d["class_name"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    labels
}

/// Our detections per label against the reference's on the same clip, model and thresholds:
/// every label the reference sees at least 30 times within 10 % of its count (frame-level
/// parity is the parity tests' job; this catches a graph that drops or invents a class), the
/// total within 5 %, no label the reference never sees, and none more often than the reference
/// plus a fifth (at least 2: a class with a handful of detections near the threshold).
pub fn assert_labels_near_reference(
    ours: &std::collections::BTreeMap<String, usize>,
    reference: &std::collections::BTreeMap<String, usize>,
) {
    for (label, &want) in reference.iter().filter(|(_, n)| **n >= 30) {
        let got = ours.get(label).copied().unwrap_or(0);
        assert!(
            got.abs_diff(want) * 10 <= want,
            "{label}: {got} detections, the reference has {want} ({ours:?})"
        );
    }
    for (label, &got) in ours {
        let want = reference.get(label).copied().unwrap_or(0);
        assert!(
            got <= want + (want / 5).max(2) && (want > 0 || got == 0),
            "{label}: {got} detections, the reference has {want} ({ours:?})"
        );
    }
    let (got, want): (usize, usize) = (ours.values().sum(), reference.values().sum());
    assert!(
        got.abs_diff(want) * 20 <= want,
        "{got} detections in all, the reference has {want}"
    );
}

/// Detections per label in ultralytics' reference for these pictures together (yolov12n).
pub fn reference_image_labels(images: &[&str]) -> std::collections::BTreeMap<String, usize> {
    let path = testdata().join("reference/yolov12n.json");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut labels = std::collections::BTreeMap::new();
    for image in images {
        for d in r["images"][image]["detections"].as_array().unwrap() {
            *labels
                .entry(d["class_name"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    labels
}

/// Intersection over union of two `[x1, y1, x2, y2]` boxes (0 when both are empty).
pub fn box_iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h;
    if union > 0.0 { w * h / union } else { 0.0 }
}

/// The `[x1, y1, x2, y2]` array in field `field` of a JSON record (`box` in hmg's records,
/// `box_xyxy` in the ultralytics reference files).
pub fn json_box(record: &serde_json::Value, field: &str) -> [f64; 4] {
    let b: Vec<f64> = record[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field} in {record}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    [b[0], b[1], b[2], b[3]]
}
