// SPDX-License-Identifier: MIT OR Apache-2.0
//! Image files as the CLI reads them: which files count, and decoding them upright.

use std::path::{Path, PathBuf};

use image::{ImageDecoder, ImageReader, RgbImage};

/// Image files hmg reads (what the `image` crate decodes in this build).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "bmp"];

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

/// Decodes an image to RGB, turned upright by its EXIF orientation (as OpenCV's imread does).
pub fn read_rgb(path: &Path) -> anyhow::Result<RgbImage> {
    let mut decoder = ImageReader::open(path)?
        .with_guessed_format()?
        .into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = image::DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image.into_rgb8())
}
