// SPDX-License-Identifier: MIT OR Apache-2.0
//! The annotator's HTTP side. Pictures are addressed by their index in the list made at start,
//! never by a path from the request, so no URL can reach a file outside the given folders.

use std::io::Read;
use std::path::{Path, PathBuf};

use tiny_http::{Method, Request, Response, Server};

use std::sync::Mutex;

use super::review::Queue;
use super::suggest::{Suggester, Suggestion};
use crate::atomic::write_atomic;
use crate::dataset::labels::{self, YoloBox};
use crate::web::{authorized, header, json, refuse_early, status};

const PAGE: &str = include_str!("page.html");
/// Largest request body accepted (a label list).
const MAX_BODY: u64 = 1 << 20;

pub struct Session {
    pictures: Vec<PathBuf>,
    dataset: PathBuf,
    names: Vec<String>,
    pub token: String,
    suggester: Suggester,
    /// Suggestions below this start hidden (the page's slider).
    suggest_conf: f32,
    queue: Mutex<Queue>,
}

impl Session {
    /// The pictures in the review queue come first, least certain first.
    pub fn new(
        pictures: Vec<PathBuf>,
        dataset: PathBuf,
        names: Vec<String>,
        token: String,
        suggester: Suggester,
        suggest_conf: f32,
    ) -> anyhow::Result<Self> {
        let queue = Queue::read(&dataset)?;
        let mut session = Self {
            pictures,
            dataset,
            names,
            token,
            suggester,
            suggest_conf,
            queue: Mutex::new(queue),
        };
        session.queue_first();
        Ok(session)
    }

    /// Puts the queued pictures first, least certain first; the others keep their order.
    pub fn queue_first(&mut self) {
        let rank: std::collections::HashMap<String, usize> = self
            .queue
            .lock()
            .unwrap()
            .order()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i))
            .collect();
        self.pictures
            .sort_by_key(|p| rank.get(&name_of(p)).copied().unwrap_or(usize::MAX));
    }

    pub fn pictures(&self) -> &[PathBuf] {
        &self.pictures
    }

    fn is_unreviewed(&self, picture: &Path) -> bool {
        self.queue
            .lock()
            .unwrap()
            .pictures
            .contains_key(&name_of(picture))
    }

    pub fn unreviewed(&self) -> usize {
        self.pictures
            .iter()
            .filter(|p| self.is_unreviewed(p))
            .count()
    }

    /// Writes the suggested boxes (at or above the slider's threshold) as `picture`'s labels and
    /// puts it in the review queue; returns how many boxes (`None`: nothing suggests any).
    pub fn auto_label(&self, picture: &Path) -> anyhow::Result<Option<usize>> {
        let found = self.suggester.for_picture(picture)?;
        if found.source == "none" {
            return Ok(None);
        }
        let kept: Vec<&Suggestion> = found
            .boxes
            .iter()
            .filter(|b| b.confidence >= self.suggest_conf)
            .collect();
        let boxes: Vec<YoloBox> = kept
            .iter()
            .map(|b| YoloBox {
                class: b.class,
                cx: b.cx,
                cy: b.cy,
                w: b.w,
                h: b.h,
            })
            .collect();
        self.save(picture, &boxes)?;
        let weakest = kept.iter().map(|b| b.confidence).reduce(f32::min);
        let mut queue = self.queue.lock().unwrap();
        queue.pictures.insert(name_of(picture), weakest);
        queue.write(&self.dataset)?;
        Ok(Some(boxes.len()))
    }

    pub fn count(&self) -> usize {
        self.pictures.len()
    }

    fn label_path(&self, picture: &Path) -> PathBuf {
        let stem = picture.file_stem().unwrap_or_default().to_string_lossy();
        self.dataset.join("labels").join(format!("{stem}.txt"))
    }

    pub fn is_labelled(&self, picture: &Path) -> bool {
        self.label_path(picture).is_file()
    }

    pub fn labelled(&self) -> usize {
        self.pictures.iter().filter(|p| self.is_labelled(p)).count()
    }

    fn state(&self) -> serde_json::Value {
        let images: Vec<serde_json::Value> = self
            .pictures
            .iter()
            .map(|p| {
                serde_json::json!({
                    "name": p.file_name().unwrap_or_default().to_string_lossy(),
                    "labelled": self.is_labelled(p),
                    "unreviewed": self.is_unreviewed(p),
                })
            })
            .collect();
        let classes: Vec<serde_json::Value> = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let [r, g, b] = hmg_detect::draw::class_color(i as u32);
                serde_json::json!({"id": i, "name": n, "color": format!("#{r:02x}{g:02x}{b:02x}")})
            })
            .collect();
        // Resume at the first picture without a label file or whose labels await review.
        let start = self
            .pictures
            .iter()
            .position(|p| !self.is_labelled(p) || self.is_unreviewed(p))
            .unwrap_or(0);
        serde_json::json!({
            "dataset": self.dataset.display().to_string(),
            "classes": classes,
            "images": images,
            "start": start,
            "suggest_conf": self.suggest_conf,
        })
    }

    fn labels_of(&self, picture: &Path) -> serde_json::Value {
        let path = self.label_path(picture);
        let saved = path.is_file();
        let boxes = if saved {
            labels::read_lenient(&path).unwrap_or_default()
        } else {
            Vec::new()
        };
        serde_json::json!({"saved": saved, "boxes": boxes, "unreviewed": self.is_unreviewed(picture)})
    }

    /// A label list the page may save: known classes, finite numbers, and not only boxes that
    /// fall outside the picture (which would replace its labels with none).
    fn check(&self, boxes: &[YoloBox]) -> Result<(), String> {
        let nc = self.names.len() as u32;
        if let Some(b) = boxes.iter().find(|b| b.class >= nc) {
            return Err(format!("class {} does not exist ({nc} classes)", b.class));
        }
        if boxes
            .iter()
            .any(|b| ![b.cx, b.cy, b.w, b.h].iter().all(|v| v.is_finite()))
        {
            return Err("a box has a coordinate that is not a number".into());
        }
        if !boxes.is_empty() && Self::inside(boxes).is_empty() {
            return Err("every box lies outside the picture; nothing was saved".into());
        }
        Ok(())
    }

    /// The boxes clipped to the picture, those left with no area dropped.
    fn inside(boxes: &[YoloBox]) -> Vec<YoloBox> {
        let mut clean = Vec::with_capacity(boxes.len());
        for b in boxes {
            let x1 = (b.cx - b.w / 2.0).clamp(0.0, 1.0);
            let x2 = (b.cx + b.w / 2.0).clamp(0.0, 1.0);
            let y1 = (b.cy - b.h / 2.0).clamp(0.0, 1.0);
            let y2 = (b.cy + b.h / 2.0).clamp(0.0, 1.0);
            if !(x2 > x1 && y2 > y1) {
                continue;
            }
            clean.push(YoloBox {
                class: b.class,
                cx: (x1 + x2) / 2.0,
                cy: (y1 + y2) / 2.0,
                w: x2 - x1,
                h: y2 - y1,
            });
        }
        clean
    }

    /// Copies the picture into `<dataset>/images/` (unless it is already there) and writes its
    /// label file; both written atomically. `boxes` passed [`Session::check`].
    fn save(&self, picture: &Path, boxes: &[YoloBox]) -> anyhow::Result<()> {
        let clean = Self::inside(boxes);
        let target = self
            .dataset
            .join("images")
            .join(picture.file_name().unwrap_or_default());
        let same = matches!(
            (picture.canonicalize(), target.canonicalize()),
            (Ok(a), Ok(b)) if a == b
        );
        if !same {
            write_atomic(&target, |w| {
                let mut src = std::fs::File::open(picture)?;
                std::io::copy(&mut src, w)?;
                Ok(())
            })?;
        }
        labels::write(&self.label_path(picture), &clean)?;
        // Saved by a person: reviewed (auto_label queues it again after this).
        let mut queue = self.queue.lock().unwrap();
        if queue.pictures.remove(&name_of(picture)).is_some() {
            queue.write(&self.dataset)?;
        }
        Ok(())
    }
}

fn name_of(picture: &Path) -> String {
    picture
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// A picture as the page's `<img>` can show it, with its content type: the file itself, or a
/// PNG of it (upright) for TIFF, which browsers do not display.
fn browser_picture(path: &Path) -> anyhow::Result<(Vec<u8>, &'static str)> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let kind = match extension.as_deref() {
        Some("png") => "image/png",
        Some("bmp") => "image/bmp",
        Some("webp") => "image/webp",
        Some("tif" | "tiff") => {
            let mut png = Vec::new();
            crate::images::read_rgb(path)?
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
            return Ok((png, "image/png"));
        }
        _ => "image/jpeg",
    };
    Ok((std::fs::read(path)?, kind))
}

enum Outcome {
    Continue,
    Quit,
}

/// Serves requests until the page asks to quit.
pub fn serve(server: &Server, session: Session) -> Session {
    for request in server.incoming_requests() {
        if let Outcome::Quit = handle(&session, request) {
            break;
        }
    }
    session
}

fn handle(session: &Session, mut request: Request) -> Outcome {
    if let Some((code, text)) = refuse_early(&request, MAX_BODY) {
        let _ = request.respond(status(code, &text));
        return Outcome::Continue;
    }
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    if !authorized(&request, query, &session.token) {
        let _ = request.respond(status(
            403,
            "missing or wrong token: open the link hmg annotate printed",
        ));
        return Outcome::Continue;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let picture = |i: &str| {
        i.parse::<usize>()
            .ok()
            .and_then(|i| session.pictures.get(i))
    };
    let method = request.method().clone();
    let (response, outcome) = match (&method, parts.as_slice()) {
        (Method::Get, [""]) => (
            Response::from_data(PAGE.as_bytes().to_vec())
                .with_header(header("Content-Type", "text/html; charset=utf-8"))
                .with_header(header("Cache-Control", "no-store")),
            Outcome::Continue,
        ),
        (Method::Get, ["api", "state"]) => (json(&session.state()), Outcome::Continue),
        (Method::Get, ["api", "image", i]) => match picture(i).map(|p| (p, browser_picture(p))) {
            Some((_, Ok((bytes, kind)))) => (
                Response::from_data(bytes).with_header(header("Content-Type", kind)),
                Outcome::Continue,
            ),
            Some((p, Err(e))) => (
                status(500, &format!("cannot read {}: {e:#}", p.display())),
                Outcome::Continue,
            ),
            None => (status(404, "no such picture"), Outcome::Continue),
        },
        (Method::Get, ["api", "labels", i]) => match picture(i) {
            Some(p) => (json(&session.labels_of(p)), Outcome::Continue),
            None => (status(404, "no such picture"), Outcome::Continue),
        },
        (Method::Get, ["api", "suggestions", i]) => match picture(i) {
            Some(p) => match session.suggester.for_picture(p) {
                Ok(found) => (
                    json(&serde_json::to_value(found).expect("plain data")),
                    Outcome::Continue,
                ),
                Err(e) => (status(500, &format!("{e:#}")), Outcome::Continue),
            },
            None => (status(404, "no such picture"), Outcome::Continue),
        },
        (Method::Post, ["api", "labels", i]) => match picture(i) {
            Some(p) => {
                let mut body = String::new();
                let read = request.as_reader().take(MAX_BODY).read_to_string(&mut body);
                let parsed = read.map_err(|e| e.to_string()).and_then(|_| {
                    serde_json::from_str::<Vec<YoloBox>>(&body).map_err(|e| e.to_string())
                });
                let parsed = parsed.and_then(|boxes| session.check(&boxes).map(|()| boxes));
                match parsed {
                    Ok(boxes) => match session.save(p, &boxes) {
                        Ok(()) => (
                            json(&serde_json::json!({"labelled": session.labelled()})),
                            Outcome::Continue,
                        ),
                        Err(e) => (status(500, &format!("{e:#}")), Outcome::Continue),
                    },
                    Err(e) => (
                        status(400, &format!("bad label list: {e}")),
                        Outcome::Continue,
                    ),
                }
            }
            None => (status(404, "no such picture"), Outcome::Continue),
        },
        (Method::Post, ["api", "quit"]) => (status(200, "bye"), Outcome::Quit),
        _ => (status(404, "not found"), Outcome::Continue),
    };
    let _ = request.respond(response);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Browsers show JPEG, PNG, BMP and WebP as they are; a TIFF goes out as a PNG of the same
    /// upright pixels.
    #[test]
    fn pictures_go_out_as_the_page_can_show_them() {
        let dir = std::env::temp_dir().join(format!("hmg-browser-picture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let picture =
            image::RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 50, 9]));
        for (name, kind) in [
            ("a.png", "image/png"),
            ("a.bmp", "image/bmp"),
            ("a.webp", "image/webp"),
            ("a.jpg", "image/jpeg"),
            ("a.tif", "image/png"),
        ] {
            let path = dir.join(name);
            picture.save(&path).unwrap();
            let (bytes, got) = browser_picture(&path).unwrap();
            assert_eq!(got, kind, "{name}");
            if name.ends_with(".tif") {
                let shown = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                    .unwrap()
                    .into_rgb8();
                assert_eq!(shown, picture);
            } else {
                assert_eq!(bytes, std::fs::read(&path).unwrap(), "{name}");
            }
        }
        std::fs::write(dir.join("b.tif"), b"not a tiff").unwrap();
        assert!(browser_picture(&dir.join("b.tif")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
