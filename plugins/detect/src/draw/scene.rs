// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the overlay draws besides boxes: counting lines, zones (a translucent fill and an
//! outline) and track trails, all as rectangles for `paint_plane` / `blend_plane`.

use super::Rect;

/// Rectangles that draw the open (or, with `closed`, closed) polyline through `points`
/// (frame pixels), `width` pixels thick.
pub fn layout_polyline(
    points: &[[f32; 2]],
    closed: bool,
    width: u32,
    rgb: [u8; 3],
    out: &mut Vec<Rect>,
) {
    for pair in points.windows(2) {
        layout_segment(pair[0], pair[1], width, rgb, out);
    }
    if closed && points.len() > 2 {
        layout_segment(points[points.len() - 1], points[0], width, rgb, out);
    }
}

/// One segment as a run of `width`-sized squares, one per pixel step along its longer axis.
fn layout_segment(a: [f32; 2], b: [f32; 2], width: u32, rgb: [u8; 3], out: &mut Vec<Rect>) {
    if !(a.iter().chain(&b).all(|v| v.is_finite())) {
        return;
    }
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    // Bounded so that a wild coordinate cannot make millions of squares.
    let steps = dx.abs().max(dy.abs()).ceil().clamp(1.0, 16384.0) as i32;
    let w = width.max(1) as i32;
    let half = (w - 1) / 2;
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let x = (a[0] + dx * t).floor() as i32 - half;
        let y = (a[1] + dy * t).floor() as i32 - half;
        out.push(Rect {
            x0: x,
            y0: y,
            x1: x + w,
            y1: y + w,
            rgb,
        });
    }
}

/// Rectangles that fill the polygon `points` (frame pixels) on a `width`×`height` frame, for
/// `blend_plane`. Rows go in pairs sampled at the pair's boundary, so a 4:2:0 chroma row is
/// covered by one rectangle and mixed once.
pub fn layout_polygon_fill(
    points: &[[f32; 2]],
    width: u32,
    height: u32,
    rgb: [u8; 3],
    out: &mut Vec<Rect>,
) {
    if points.len() < 3 || !points.iter().flatten().all(|v| v.is_finite()) {
        return;
    }
    let (top, bottom) = points.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
        (lo.min(p[1]), hi.max(p[1]))
    });
    let first = ((top.max(0.0) as i32) / 2) * 2;
    let last = (bottom.ceil() as i32).min(height as i32);
    let mut crossings: Vec<f32> = Vec::with_capacity(points.len());
    let mut y = first;
    while y < last {
        let sample = y as f32 + 1.0;
        crossings.clear();
        for (i, p) in points.iter().enumerate() {
            let q = points[(i + 1) % points.len()];
            // Half-open in y so that a vertex shared by two edges counts once.
            if (p[1] <= sample) != (q[1] <= sample) {
                crossings.push(p[0] + (sample - p[1]) / (q[1] - p[1]) * (q[0] - p[0]));
            }
        }
        crossings.sort_by(f32::total_cmp);
        for span in crossings.chunks_exact(2) {
            let x0 = (span[0].round() as i32).max(0);
            let x1 = (span[1].round() as i32).min(width as i32);
            if x0 < x1 {
                out.push(Rect {
                    x0,
                    y0: y,
                    x1,
                    y1: (y + 2).min(height as i32),
                    rgb,
                });
            }
        }
        y += 2;
    }
}

/// Rectangles that write `text` on a filled label whose top-left is near `(x, y)`, kept within a
/// `width`×`height` frame (as box labels are).
#[allow(clippy::too_many_arguments)] // a label's place, frame, colour and size
pub fn layout_text(
    text: &str,
    x: i32,
    y: i32,
    width: u32,
    height: u32,
    bg: [u8; 3],
    font_size: u32,
    out: &mut Vec<Rect>,
) {
    super::layout_label(text, x, y, width as i32, height as i32, bg, font_size, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draw::{blend_plane, paint_plane};
    use crate::pixel::{PixelFormat, YuvMatrix};

    #[test]
    fn a_filled_square_covers_its_inside_once_and_nothing_outside() {
        let (w, h) = (32usize, 32usize);
        let mut rects = Vec::new();
        layout_polygon_fill(
            &[[4.0, 4.0], [20.0, 4.0], [20.0, 20.0], [4.0, 20.0]],
            w as u32,
            h as u32,
            [200, 0, 0],
            &mut rects,
        );
        let mut img = vec![0u8; w * h * 3];
        let fmt = PixelFormat::Rgb;
        blend_plane(
            fmt,
            YuvMatrix::default(),
            0,
            &mut img,
            w * 3,
            w,
            h,
            &rects,
            128,
        );
        let px = |x: usize, y: usize| img[(y * w + x) * 3];
        // Mixed exactly once: 200 * 128 / 255, rounded.
        assert_eq!(px(10, 10), 100);
        assert_eq!(px(4, 4), 100);
        assert_eq!(px(19, 19), 100);
        assert_eq!(px(2, 10), 0);
        assert_eq!(px(25, 10), 0);
        assert_eq!(px(10, 25), 0);
        // The same square on NV12: each chroma sample inside is mixed once.
        let mut uv = vec![128u8; w * h / 2];
        blend_plane(
            PixelFormat::Nv12,
            YuvMatrix::default(),
            1,
            &mut uv,
            w,
            w,
            h,
            &rects,
            255,
        );
        let red = crate::yuv::rgb_to_yuv(YuvMatrix::default(), [200, 0, 0]);
        assert_eq!(&uv[5 * w + 10..5 * w + 12], &red[1..]);
    }

    #[test]
    fn a_triangle_fills_about_half_its_box() {
        let mut rects = Vec::new();
        layout_polygon_fill(
            &[[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]],
            200,
            200,
            [1, 2, 3],
            &mut rects,
        );
        let area: i32 = rects.iter().map(|r| (r.x1 - r.x0) * (r.y1 - r.y0)).sum();
        assert!((4800..=5200).contains(&area), "area {area}");
    }

    #[test]
    fn a_diagonal_line_touches_both_ends_and_stays_thin() {
        let (w, h) = (50usize, 50usize);
        let mut rects = Vec::new();
        layout_polyline(
            &[[5.0, 5.0], [40.0, 30.0]],
            false,
            3,
            [0, 255, 0],
            &mut rects,
        );
        let mut img = vec![0u8; w * h * 3];
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
        let lit = |x: usize, y: usize| img[(y * w + x) * 3 + 1] == 255;
        assert!(lit(5, 5) && lit(40, 30));
        assert!(!lit(40, 5) && !lit(5, 30));
        let painted = (0..w * h).filter(|i| img[i * 3 + 1] == 255).count();
        // About length × width: a 43 px line, 3 px thick.
        assert!((100..=200).contains(&painted), "{painted} pixels");
    }

    #[test]
    fn non_finite_points_draw_nothing() {
        let mut rects = Vec::new();
        layout_polyline(
            &[[f32::NAN, 0.0], [1e30, 5.0]],
            false,
            2,
            [0; 3],
            &mut rects,
        );
        layout_polygon_fill(
            &[[0.0, 0.0], [f32::INFINITY, 0.0], [0.0, 9.0]],
            10,
            10,
            [0; 3],
            &mut rects,
        );
        assert!(rects.len() <= 16385);
    }
}
