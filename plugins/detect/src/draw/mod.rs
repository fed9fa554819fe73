// SPDX-License-Identifier: MIT OR Apache-2.0
//! Drawing boxes and labels on frames of any supported pixel format.
//!
//! Drawing is split in two: `layout_detections` turns detections into coloured rectangles
//! (box edges, label background, glyph strokes of the 8×8 bitmap font), and `paint_plane`
//! fills those rectangles into one plane of a frame. Planar YUV frames paint each plane in turn.
//!
//! ```
//! use hmg_detect::Detection;
//! use hmg_detect::draw::{DrawOptions, class_color, draw_on_rgb, layout_detections};
//! let dog = Detection { class_id: 16, label: "dog".into(), confidence: 0.9, x1: 10.0, y1: 20.0, x2: 50.0, y2: 60.0 };
//! let mut rgb = vec![0u8; 64 * 64 * 3];
//! draw_on_rgb(&mut rgb, 64, 64, &[dog.clone()], &DrawOptions::default());
//! let at = |x: usize, y: usize| &rgb[(y * 64 + x) * 3..][..3];
//! assert_eq!(at(10, 40), class_color(16)); // the left edge, in the class's colour
//! assert_eq!(at(30, 40), [0, 0, 0]);       // inside the box: untouched
//! let mut rects = Vec::new();
//! layout_detections(&[dog], 64, 64, &DrawOptions { show_label: false, show_conf: false, ..Default::default() }, &mut rects);
//! assert_eq!(rects.len(), 4); // four edges, no label text
//! ```

use crate::detection::Detection;
use crate::pixel::{PixelFormat, YuvMatrix};
use crate::yuv::rgb_to_yuv;

mod scene;

pub use scene::{layout_polygon_fill, layout_polyline, layout_text};

/// A filled rectangle, `x1`/`y1` exclusive, in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left, inclusive.
    pub x0: i32,
    /// Top, inclusive.
    pub y0: i32,
    /// Right, exclusive.
    pub x1: i32,
    /// Bottom, exclusive.
    pub y1: i32,
    /// Fill colour.
    pub rgb: [u8; 3],
}

/// How detections are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawOptions {
    /// Box edge thickness in pixels.
    pub line_width: u32,
    /// Glyph size in pixels (multiples of 8 look sharpest).
    pub font_size: u32,
    /// Draw the class label above the box.
    pub show_label: bool,
    /// Append the confidence to the label.
    pub show_conf: bool,
}

impl Default for DrawOptions {
    fn default() -> Self {
        Self {
            line_width: 2,
            font_size: 16,
            show_label: true,
            show_conf: true,
        }
    }
}

/// A distinct, stable colour per class (golden-ratio hue steps).
pub fn class_color(class_id: u32) -> [u8; 3] {
    let h = (class_id as f32 * 0.618_034).fract() * 6.0;
    let (s, v) = (0.85f32, 0.95f32);
    let c = v * s;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r, g, b].map(|t| ((t + m) * 255.0).round() as u8)
}

/// Rectangles that draw `dets` on a `width`×`height` frame.
pub fn layout_detections(
    dets: &[Detection],
    width: u32,
    height: u32,
    opts: &DrawOptions,
    out: &mut Vec<Rect>,
) {
    let lw = opts.line_width.max(1) as i32;
    for d in dets {
        let rgb = class_color(d.class_id);
        let (x0, y0) = (d.x1.floor() as i32, d.y1.floor() as i32);
        let (x1, y1) = (d.x2.ceil() as i32, d.y2.ceil() as i32);
        out.push(Rect {
            x0,
            y0,
            x1,
            y1: y0 + lw,
            rgb,
        });
        out.push(Rect {
            x0,
            y0: y1 - lw,
            x1,
            y1,
            rgb,
        });
        out.push(Rect {
            x0,
            y0,
            x1: x0 + lw,
            y1,
            rgb,
        });
        out.push(Rect {
            x0: x1 - lw,
            y0,
            x1,
            y1,
            rgb,
        });
        if !(opts.show_label || opts.show_conf) {
            continue;
        }
        // One text buffer per thread, reused: drawing a frame allocates nothing.
        thread_local!(static TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
        TEXT.with_borrow_mut(|text| {
            use std::fmt::Write;
            text.clear();
            let _ = match (opts.show_label, opts.show_conf) {
                (true, true) => write!(text, "{} {:.2}", d.label, d.confidence),
                (true, false) => write!(text, "{}", d.label),
                _ => write!(text, "{:.2}", d.confidence),
            };
            layout_label(
                text,
                x0,
                y0,
                width as i32,
                height as i32,
                rgb,
                opts.font_size,
                out,
            );
        });
    }
}

#[allow(clippy::too_many_arguments)] // one rectangle's worth of geometry
pub(crate) fn layout_label(
    text: &str,
    bx: i32,
    by: i32,
    fw: i32,
    fh: i32,
    bg: [u8; 3],
    font_size: u32,
    out: &mut Vec<Rect>,
) {
    let scale = (font_size / 8).max(1) as i32;
    let glyph = 8 * scale;
    let pad = scale;
    let chars = text.chars().count() as i32;
    let (w, h) = (chars * glyph + 2 * pad, glyph + 2 * pad);
    // Above the box when there is room, else inside its top edge; kept within the frame.
    let y0 = if by - h >= 0 { by - h } else { by.max(0) };
    let x0 = bx.clamp(0, (fw - w).max(0));
    let y0 = y0.min((fh - h).max(0));
    out.push(Rect {
        x0,
        y0,
        x1: x0 + w,
        y1: y0 + h,
        rgb: bg,
    });
    let luma = 299 * bg[0] as u32 + 587 * bg[1] as u32 + 114 * bg[2] as u32;
    let fg = if luma > 140_000 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    };
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            b'?' as usize
        };
        let bitmap = font8x8::legacy::BASIC_LEGACY[code];
        let gx = x0 + pad + i as i32 * glyph;
        for (row, bits) in bitmap.iter().enumerate() {
            let gy = y0 + pad + row as i32 * scale;
            let mut col = 0;
            // One rectangle per run of set bits (bit 0 is the leftmost pixel).
            while col < 8 {
                if bits & (1 << col) == 0 {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < 8 && bits & (1 << col) != 0 {
                    col += 1;
                }
                out.push(Rect {
                    x0: gx + start * scale,
                    y0: gy,
                    x1: gx + col * scale,
                    y1: gy + scale,
                    rgb: fg,
                });
            }
        }
    }
}

/// Draws `dets` on a packed RGB image of `width`×`height` pixels.
pub fn draw_on_rgb(
    rgb: &mut [u8],
    width: usize,
    height: usize,
    dets: &[Detection],
    opts: &DrawOptions,
) {
    let mut rects = Vec::new();
    layout_detections(dets, width as u32, height as u32, opts, &mut rects);
    paint_plane(
        PixelFormat::Rgb,
        YuvMatrix::Bt601Full,
        0,
        rgb,
        width * 3,
        width,
        height,
        &rects,
    );
}

/// Fills `rects` into plane `plane` (stride `stride`) of a `width`×`height` frame.
#[allow(clippy::too_many_arguments)] // a plane is format, matrix, index, data, stride and size
pub fn paint_plane(
    format: PixelFormat,
    yuv: YuvMatrix,
    plane: usize,
    data: &mut [u8],
    stride: usize,
    width: usize,
    height: usize,
    rects: &[Rect],
) {
    blend_plane(format, yuv, plane, data, stride, width, height, rects, 255);
}

/// Like [`paint_plane`], but mixes each rectangle's colour into the frame with `alpha`
/// (0 leaves the frame, 255 paints over it): translucent zones. Rectangles should not overlap, or
/// the overlap is mixed twice; on 4:2:0 frames that holds for rows two apart, as
/// [`layout_polygon_fill`] makes them.
#[allow(clippy::too_many_arguments)] // paint_plane's arguments and the opacity
pub fn blend_plane(
    format: PixelFormat,
    yuv: YuvMatrix,
    plane: usize,
    data: &mut [u8],
    stride: usize,
    width: usize,
    height: usize,
    rects: &[Rect],
    alpha: u8,
) {
    let (sub, bpp) = match (format, plane) {
        (PixelFormat::Nv12 | PixelFormat::I420, 0) => (1, 1),
        (PixelFormat::Nv12, 1) => (2, 2),
        (PixelFormat::I420, 1 | 2) => (2, 1),
        (f, 0) => (1, f.packed_layout().map_or(1, |(b, _)| b)),
        _ => return,
    };
    let (pw, ph) = (width.div_ceil(sub) as i32, height.div_ceil(sub) as i32);
    for r in rects {
        let s = sub as i32;
        // Chroma covers a 2×2 block: include every block the rectangle touches.
        let (x0, y0) = ((r.x0.max(0)) / s, (r.y0.max(0)) / s);
        let (x1, y1) = ((r.x1 + s - 1) / s, (r.y1 + s - 1) / s);
        let (x1, y1) = (x1.min(pw), y1.min(ph));
        if x0 >= x1 || y0 >= y1 {
            continue;
        }
        let value: [u8; 4] = match format.packed_layout() {
            Some((_, off)) => {
                let mut v = [255u8; 4];
                if format == PixelFormat::Gray8 {
                    v[0] = rgb_to_yuv(YuvMatrix::Bt601Full, r.rgb)[0];
                } else {
                    for c in 0..3 {
                        v[off[c]] = r.rgb[c];
                    }
                }
                v
            }
            None => {
                let [y, u, v] = rgb_to_yuv(yuv, r.rgb);
                match (format, plane) {
                    (_, 0) => [y, 0, 0, 0],
                    (PixelFormat::Nv12, _) => [u, v, 0, 0],
                    (_, 1) => [u, 0, 0, 0],
                    _ => [v, 0, 0, 0],
                }
            }
        };
        let px = &value[..bpp];
        for y in y0..y1 {
            let row_start = y as usize * stride;
            let Some(row) =
                data.get_mut(row_start + x0 as usize * bpp..row_start + x1 as usize * bpp)
            else {
                continue;
            };
            if alpha == 255 {
                for dst in row.chunks_exact_mut(bpp) {
                    dst.copy_from_slice(px);
                }
            } else {
                let (a, keep) = (u32::from(alpha), 255 - u32::from(alpha));
                for dst in row.chunks_exact_mut(bpp) {
                    for (d, &v) in dst.iter_mut().zip(px) {
                        *d = ((u32::from(*d) * keep + u32::from(v) * a + 127) / 255) as u8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class_id: u32) -> Detection {
        Detection {
            class_id,
            label: "car".into(),
            confidence: 0.5,
            x1: 10.0,
            y1: 20.0,
            x2: 50.0,
            y2: 60.0,
        }
    }

    #[test]
    fn colours_differ_between_classes() {
        let colours: std::collections::HashSet<_> = (0..20).map(class_color).collect();
        assert_eq!(colours.len(), 20);
    }

    #[test]
    fn box_edges_painted_on_rgb_and_inside_untouched() {
        let (w, h) = (64usize, 64usize);
        let mut img = vec![0u8; w * h * 3];
        let mut rects = Vec::new();
        layout_detections(
            &[det(3)],
            w as u32,
            h as u32,
            &DrawOptions {
                show_label: false,
                show_conf: false,
                ..Default::default()
            },
            &mut rects,
        );
        paint_plane(
            PixelFormat::Rgb,
            YuvMatrix::default(),
            0,
            &mut img,
            w * 3,
            w,
            h,
            &rects,
        );
        let px = |x: usize, y: usize| &img[(y * w + x) * 3..(y * w + x) * 3 + 3];
        assert_eq!(px(10, 20), class_color(3));
        assert_eq!(px(49, 59), class_color(3));
        assert_eq!(px(30, 40), [0, 0, 0]);
        assert_eq!(px(5, 5), [0, 0, 0]);
    }

    #[test]
    fn label_drawn_inside_frame_on_nv12() {
        let (w, h) = (40usize, 30usize);
        let mut y = vec![16u8; w * h];
        let mut uv = vec![128u8; w * h.div_ceil(2)];
        let mut rects = Vec::new();
        let mut d = det(1);
        (d.x1, d.y1, d.x2, d.y2) = (0.0, 0.0, 40.0, 30.0);
        layout_detections(
            &[d],
            w as u32,
            h as u32,
            &DrawOptions::default(),
            &mut rects,
        );
        assert!(rects.len() > 5);
        paint_plane(
            PixelFormat::Nv12,
            YuvMatrix::default(),
            0,
            &mut y,
            w,
            w,
            h,
            &rects,
        );
        paint_plane(
            PixelFormat::Nv12,
            YuvMatrix::default(),
            1,
            &mut uv,
            w,
            w,
            h,
            &rects,
        );
        assert!(y.iter().any(|&v| v != 16));
        assert!(uv.iter().any(|&v| v != 128));
    }
}
