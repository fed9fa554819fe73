// SPDX-License-Identifier: MIT OR Apache-2.0
//! Offline graphs fed with decoded pictures: `appsrc name=frames ! … ` played to EOS while a
//! thread pushes the frames (verify-onnx's blank frames and val images, calibrate's pictures).

use anyhow::{Context, anyhow};
use gst::prelude::*;
use image::RgbImage;

use crate::graph;

/// A frame and its caps (each frame may have its own size).
pub type Frame = (gst::Buffer, gst::Caps);

/// An RGB frame, rows padded to GStreamer's 4-byte stride.
pub fn rgb_frame(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Frame {
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, width, height)
        .build()
        .expect("valid RGB size");
    let stride = info.stride()[0] as usize;
    let mut data = vec![0u8; info.size()];
    for y in 0..height {
        let row = &mut data[y as usize * stride..][..width as usize * 3];
        for x in 0..width {
            row[x as usize * 3..][..3].copy_from_slice(&pixel(x, y));
        }
    }
    (
        gst::Buffer::from_mut_slice(data),
        info.to_caps().expect("RGB caps"),
    )
}

/// A decoded picture as a frame.
pub fn image_frame(image: &RgbImage) -> Frame {
    let (w, h) = image.dimensions();
    let raw = image.as_raw();
    let row = w as usize * 3;
    rgb_frame(w, h, |x, y| {
        let at = y as usize * row + x as usize * 3;
        [raw[at], raw[at + 1], raw[at + 2]]
    })
}

/// Plays `description` (which starts with `appsrc name=frames`) to EOS while a thread pushes
/// `frames`; returns the stopped pipeline, so callers can read its elements' results.
pub fn play_frames(
    description: &str,
    frames: impl Iterator<Item = anyhow::Result<Frame>> + Send + 'static,
) -> anyhow::Result<gst::Pipeline> {
    graph::init()?;
    let pipeline = gst::parse::launch(description)
        .with_context(|| format!("cannot build the graph {description}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow!("the graph is not a pipeline"))?;
    let appsrc = pipeline
        .by_name("frames")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .ok_or_else(|| anyhow!("the graph has no appsrc named frames"))?;
    appsrc.set_format(gst::Format::Time);
    appsrc.set_property("block", true);
    appsrc.set_max_bytes(64 << 20);
    let feeder = std::thread::spawn(move || -> anyhow::Result<()> {
        for (i, frame) in frames.enumerate() {
            let (mut buffer, caps) = match frame {
                Ok(f) => f,
                Err(e) => {
                    // Stop the graph: nothing half-done is written by our elements on error.
                    appsrc
                        .post_message(
                            gst::message::Error::builder(
                                gst::StreamError::Failed,
                                &format!("{e:#}"),
                            )
                            .build(),
                        )
                        .ok();
                    return Err(e);
                }
            };
            {
                let b = buffer.make_mut();
                b.set_pts(gst::ClockTime::from_mseconds(i as u64 * 40));
                b.set_duration(gst::ClockTime::from_mseconds(40));
            }
            let sample = gst::Sample::builder().buffer(&buffer).caps(&caps).build();
            if appsrc.push_sample(&sample).is_err() {
                return Ok(()); // the graph stopped; play() reports why
            }
        }
        let _ = appsrc.end_of_stream();
        Ok(())
    });
    let played = graph::play(&pipeline, |_, _| false);
    let fed = feeder
        .join()
        .map_err(|_| anyhow!("the frame feeder panicked"))?;
    fed?;
    played?;
    Ok(pipeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_frames_pad_rows_to_the_stride() {
        gst::init().unwrap();
        let (buffer, _) = rgb_frame(5, 2, |x, y| [x as u8, y as u8, 7]);
        let map = buffer.map_readable().unwrap();
        // 5 pixels = 15 bytes, stride 16.
        assert_eq!(map.len(), 32);
        assert_eq!(&map[12..16], &[4, 0, 7, 0]);
        assert_eq!(&map[16..19], &[0, 1, 7]);
    }
}
