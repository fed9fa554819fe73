// SPDX-License-Identifier: MIT OR Apache-2.0
//! A folder of pictures as a stream: each picture decoded here (any mix of JPEG, PNG and BMP,
//! CMYK JPEGs, EXIF orientation applied — as `hmg batch` reads them), pushed into an `appsrc` as
//! one frame that names its file (`HmgSource` meta, so every JSON line and MQTT record says which
//! picture it is). A picture that cannot be decoded is named, skipped and counted; the rest go on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gst::prelude::*;

use crate::appsrc::image_frame;
use crate::images::read_rgb;

/// Pictures that could not be read: file name and why.
pub type Skipped = Arc<Mutex<Vec<(String, String)>>>;

/// Frames 1/30 s apart, as the folder's frame rate.
const FRAME_NS: u64 = 1_000_000_000 / 30;

/// Feeds `pictures` (in this order) into `appsrc` on a thread of its own, then ends its stream.
pub fn feed(
    appsrc: gst_app::AppSrc,
    pictures: Vec<PathBuf>,
    stream: String,
    skipped: Skipped,
) -> std::thread::JoinHandle<()> {
    appsrc.set_format(gst::Format::Time);
    appsrc.set_property("block", true);
    // A few decoded pictures ahead, no more: memory stays bounded on large folders.
    appsrc.set_max_bytes(64 << 20);
    std::thread::spawn(move || {
        let mut index = 0u64;
        for path in pictures {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let image = match read_rgb(&path) {
                Ok(image) => image,
                Err(e) => {
                    eprintln!("\n{stream}: skipped {name}: cannot be decoded ({e:#})");
                    skipped.lock().unwrap().push((name, format!("{e:#}")));
                    continue;
                }
            };
            let (mut buffer, caps) = image_frame(&image);
            {
                let b = buffer.make_mut();
                b.set_pts(gst::ClockTime::from_nseconds(index * FRAME_NS));
                b.set_duration(gst::ClockTime::from_nseconds(FRAME_NS));
                gsthmg::meta::set_source_file(b, &name);
            }
            index += 1;
            let sample = gst::Sample::builder().buffer(&buffer).caps(&caps).build();
            if appsrc.push_sample(&sample).is_err() {
                return; // the graph stopped
            }
        }
        let _ = appsrc.end_of_stream();
    })
}
