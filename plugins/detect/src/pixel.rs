// SPDX-License-Identifier: MIT OR Apache-2.0
//! Frame pixel formats hmg reads and draws on, and a borrowed view of one frame.
//!
//! ```
//! use hmg_detect::{FrameRef, PixelFormat, YuvMatrix};
//! assert_eq!(PixelFormat::from_gst_name("NV12"), Some(PixelFormat::Nv12));
//! assert_eq!((PixelFormat::Nv12.num_planes(), PixelFormat::Bgrx.packed_layout()), (2, Some((4, [2, 1, 0]))));
//! assert!(PixelFormat::ALL.iter().all(|f| PixelFormat::from_gst_name(f.gst_name()) == Some(*f)));
//! // A 4×2 NV12 frame: Y plane 4×2, interleaved UV plane 4×1.
//! let (y, uv) = ([16u8; 8], [128u8; 4]);
//! let frame = FrameRef::new(PixelFormat::Nv12, 4, 2, [&y, &uv, &[]], [4, 4, 0])?
//!     .with_yuv_matrix(YuvMatrix::Bt709Limited);
//! let mut rgb = [1u8; 12];
//! hmg_detect::yuv::row_to_rgb(&frame, 0, &mut rgb);
//! assert_eq!(rgb, [0u8; 12]); // limited-range black
//! # Ok::<(), hmg_detect::DetectError>(())
//! ```

use crate::error::DetectError;

/// Pixel formats that hailoinfer and detoverlay accept (GStreamer names in `gst_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B.
    Rgb,
    /// Packed 8-bit B, G, R.
    Bgr,
    /// R, G, B, unused byte.
    Rgbx,
    /// B, G, R, unused byte.
    Bgrx,
    /// Unused byte, R, G, B.
    Xrgb,
    /// Unused byte, B, G, R.
    Xbgr,
    /// R, G, B, alpha.
    Rgba,
    /// B, G, R, alpha.
    Bgra,
    /// Alpha, R, G, B.
    Argb,
    /// Alpha, B, G, R.
    Abgr,
    /// Y plane, then interleaved U/V at half resolution.
    Nv12,
    /// Y, U and V planes, U and V at half resolution.
    I420,
    /// One 8-bit grey plane.
    Gray8,
}

impl PixelFormat {
    /// Every supported format.
    pub const ALL: [PixelFormat; 13] = [
        Self::Rgb,
        Self::Bgr,
        Self::Rgbx,
        Self::Bgrx,
        Self::Xrgb,
        Self::Xbgr,
        Self::Rgba,
        Self::Bgra,
        Self::Argb,
        Self::Abgr,
        Self::Nv12,
        Self::I420,
        Self::Gray8,
    ];

    /// The format's name in GStreamer caps.
    pub fn gst_name(self) -> &'static str {
        match self {
            Self::Rgb => "RGB",
            Self::Bgr => "BGR",
            Self::Rgbx => "RGBx",
            Self::Bgrx => "BGRx",
            Self::Xrgb => "xRGB",
            Self::Xbgr => "xBGR",
            Self::Rgba => "RGBA",
            Self::Bgra => "BGRA",
            Self::Argb => "ARGB",
            Self::Abgr => "ABGR",
            Self::Nv12 => "NV12",
            Self::I420 => "I420",
            Self::Gray8 => "GRAY8",
        }
    }

    /// The format GStreamer calls `name` (e.g. `NV12`), if supported.
    pub fn from_gst_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.gst_name() == name)
    }

    /// Bytes per pixel and the byte offsets of R, G, B for packed formats; `None` for planar YUV.
    pub fn packed_layout(self) -> Option<(usize, [usize; 3])> {
        Some(match self {
            Self::Rgb => (3, [0, 1, 2]),
            Self::Bgr => (3, [2, 1, 0]),
            Self::Rgbx | Self::Rgba => (4, [0, 1, 2]),
            Self::Bgrx | Self::Bgra => (4, [2, 1, 0]),
            Self::Xrgb | Self::Argb => (4, [1, 2, 3]),
            Self::Xbgr | Self::Abgr => (4, [3, 2, 1]),
            Self::Gray8 => (1, [0, 0, 0]),
            Self::Nv12 | Self::I420 => return None,
        })
    }

    /// Planes a frame of this format has.
    pub fn num_planes(self) -> usize {
        match self {
            Self::Nv12 => 2,
            Self::I420 => 3,
            _ => 1,
        }
    }
}

/// How YUV maps to RGB: the matrix (BT.601 or BT.709) and the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YuvMatrix {
    #[default]
    /// BT.601, limited range (16–235): SD cameras, most webcams.
    Bt601Limited,
    /// BT.601, full range (JPEG).
    Bt601Full,
    /// BT.709, limited range: HD video.
    Bt709Limited,
    /// BT.709, full range.
    Bt709Full,
}

/// A borrowed video frame: up to three planes with their strides (bytes per row).
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    /// Pixel format.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Plane data (unused planes empty).
    pub planes: [&'a [u8]; 3],
    /// Bytes per row of each plane.
    pub strides: [usize; 3],
    /// How YUV formats convert to RGB.
    pub yuv: YuvMatrix,
}

impl<'a> FrameRef<'a> {
    /// A tightly packed single-plane frame (RGB-family or GRAY8).
    ///
    /// ```
    /// use hmg_detect::{FrameRef, PixelFormat};
    /// let bgrx = vec![0u8; 4 * 2 * 4];
    /// let frame = FrameRef::packed(PixelFormat::Bgrx, 4, 2, &bgrx)?;
    /// assert_eq!(frame.strides[0], 16);
    /// assert!(FrameRef::packed(PixelFormat::Bgrx, 4, 2, &bgrx[..16]).is_err()); // too short
    /// assert!(FrameRef::packed(PixelFormat::Nv12, 4, 2, &bgrx).is_err()); // planar: FrameRef::new
    /// # Ok::<(), hmg_detect::DetectError>(())
    /// ```
    pub fn packed(
        format: PixelFormat,
        width: usize,
        height: usize,
        data: &'a [u8],
    ) -> Result<Self, DetectError> {
        let (bpp, _) = format.packed_layout().ok_or_else(|| {
            DetectError::Frame(format!(
                "{} is planar; use FrameRef::new",
                format.gst_name()
            ))
        })?;
        Self::new(format, width, height, [data, &[], &[]], [width * bpp, 0, 0])
    }

    /// A frame from its planes and strides; checks every plane is large enough.
    pub fn new(
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: [&'a [u8]; 3],
        strides: [usize; 3],
    ) -> Result<Self, DetectError> {
        if width == 0 || height == 0 {
            return Err(DetectError::Frame(format!("empty frame {width}x{height}")));
        }
        let cw = width.div_ceil(2);
        let ch = height.div_ceil(2);
        let needs: [(usize, usize); 3] = match (format.packed_layout(), format) {
            (Some((bpp, _)), _) => [(width * bpp, height), (0, 0), (0, 0)],
            (None, PixelFormat::Nv12) => [(width, height), (cw * 2, ch), (0, 0)],
            (None, _) => [(width, height), (cw, ch), (cw, ch)],
        };
        for (i, &(row, rows)) in needs.iter().enumerate() {
            if rows == 0 {
                continue;
            }
            let stride = strides[i];
            let need = stride * (rows - 1) + row;
            if stride < row || planes[i].len() < need {
                return Err(DetectError::Frame(format!(
                    "{} {width}x{height}: plane {i} has {} bytes with stride {stride}, needs {need}",
                    format.gst_name(),
                    planes[i].len()
                )));
            }
        }
        Ok(Self {
            format,
            width,
            height,
            planes,
            strides,
            yuv: YuvMatrix::default(),
        })
    }

    /// The same frame with another YUV matrix.
    pub fn with_yuv_matrix(mut self, yuv: YuvMatrix) -> Self {
        self.yuv = yuv;
        self
    }
}
