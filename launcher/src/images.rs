// SPDX-License-Identifier: MIT OR Apache-2.0
//! Image files as the CLI reads them: which files count, and decoding them upright.

use std::path::{Path, PathBuf};

use image::{ImageDecoder, ImageReader, RgbImage};

/// Image files hmg reads (what the `image` crate decodes in this build): ultralytics' own list
/// less the formats few cameras write (dng, mpo, pfm, heic).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"];

/// The extensions as messages list them: ".jpg, .jpeg, …".
pub fn extensions_listed() -> String {
    IMAGE_EXTENSIONS.map(|e| format!(".{e}")).join(", ")
}

pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The folder's image files, sorted by name (a missing folder has none).
pub fn list_images(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut images = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_image(&path) && path.is_file() {
            images.push(path);
        }
    }
    images.sort();
    Ok(images)
}

/// The largest picture hmg decodes: 100 megapixels on a side of at most 20000 (a camera's largest
/// is about 50 MP). A header that claims more is refused before anything is allocated.
pub const MAX_SIDE: u32 = 20_000;
pub const MAX_PIXELS: u64 = 100_000_000;

/// Decodes an image to RGB, turned upright by its EXIF orientation (as OpenCV's imread does).
pub fn read_rgb(path: &Path) -> anyhow::Result<RgbImage> {
    if std::fs::metadata(path)?.len() == 0 {
        anyhow::bail!("the file is empty");
    }
    decode_rgb(ImageReader::open(path)?)
}

/// The decoder's message once: an `image` error's text already includes its source's, which
/// `{:#}` would print again.
fn undoubled(e: image::ImageError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.to_string().trim_end())
}

/// [`read_rgb`] of a picture already open (or in memory): the format is guessed from its first
/// bytes, and no size beyond hmg's limits is allocated whatever its header claims.
pub fn decode_rgb<R: std::io::BufRead + std::io::Seek>(
    reader: ImageReader<R>,
) -> anyhow::Result<RgbImage> {
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // RGBA at 16 bits a channel is the largest buffer a decoder makes for such a picture.
    limits.max_alloc = Some(MAX_PIXELS * 8);
    let mut reader = reader.with_guessed_format()?;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(undoubled)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        anyhow::bail!(
            "{w}x{h} pixels is more than hmg decodes ({} megapixels)",
            MAX_PIXELS / 1_000_000
        );
    }
    let orientation = decoder.orientation().map_err(undoubled)?;
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(undoubled)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_claiming_a_huge_picture_is_refused_without_allocating() {
        // A valid 1x1 PNG whose IHDR claims 100000 x 100000 (its CRC fixed up).
        let mut png = Vec::new();
        RgbImage::new(1, 1)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32fast::hash(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let path = std::env::temp_dir().join(format!("hmg-huge-{}.png", std::process::id()));
        std::fs::write(&path, &png).unwrap();
        let err = read_rgb(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(
            format!("{err:#}").to_lowercase().contains("limit")
                || format!("{err:#}").contains("more than hmg decodes"),
            "{err:#}"
        );
    }
}
