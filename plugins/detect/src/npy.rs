// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `.npy` header (format 1.0): written by `calibpack` in front of the calibration tensor and
//! read back by `hmg compile` to check a calibration set before the compiler sees it.
//!
//! ```
//! use hmg_detect::npy::{NpyHeader, header_bytes};
//! let bytes = header_bytes("|u1", &[2, 640, 640, 3]);
//! assert_eq!(bytes.len() % 64, 0);
//! let h = NpyHeader::parse(&bytes).unwrap();
//! assert_eq!((h.descr.as_str(), h.shape.as_slice(), h.data_offset), ("|u1", &[2, 640, 640, 3][..], bytes.len()));
//! ```

const MAGIC: &[u8] = b"\x93NUMPY";

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// numpy dtype string, e.g. `|u1` (uint8), `<f4` (float32).
    pub descr: String,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Array shape.
    pub shape: Vec<usize>,
    /// Where the data starts in the file.
    pub data_offset: usize,
}

/// A format 1.0 header for a C-ordered array of `descr` with `shape`, padded to 64 bytes.
pub fn header_bytes(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

impl NpyHeader {
    /// Reads the header at the start of `bytes` (format 1.x, 2.x or 3.x).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 10 || &bytes[..6] != MAGIC {
            return Err("not a .npy file (no \\x93NUMPY magic)".into());
        }
        let (len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => return Err(format!(".npy format version {v} is not supported")),
        };
        let dict = bytes
            .get(start..start + len)
            .ok_or("the .npy header is cut short")?;
        let dict = std::str::from_utf8(dict).map_err(|_| "the .npy header is not text")?;
        let value = |key: &str| -> Result<&str, String> {
            let at = dict
                .find(&format!("'{key}':"))
                .ok_or_else(|| format!("the .npy header has no '{key}'"))?;
            Ok(dict[at + key.len() + 3..].trim_start())
        };
        let descr = value("descr")?
            .strip_prefix('\'')
            .and_then(|s| s.split('\'').next())
            .ok_or("bad 'descr' in the .npy header")?
            .to_string();
        let fortran_order = value("fortran_order")?.starts_with("True");
        let shape_text = value("shape")?
            .strip_prefix('(')
            .and_then(|s| s.split(')').next())
            .ok_or("bad 'shape' in the .npy header")?;
        let shape = shape_text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| format!("bad dimension '{s}' in the .npy shape"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            descr,
            fortran_order,
            shape,
            data_offset: start + len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_written_headers_parse() {
        // What numpy 2 writes for np.zeros((3,), np.float32) and a 0-d array.
        let mut h =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
                .to_vec();
        h.resize(128 - 1, b' ');
        h.push(b'\n');
        let p = NpyHeader::parse(&h).unwrap();
        assert_eq!(p.descr, "<f4");
        assert_eq!(p.shape, vec![3]);
        assert_eq!(p.data_offset, 128);
        assert!(NpyHeader::parse(b"PK\x03\x04 zip").is_err());
        let written = header_bytes("<f4", &[3]);
        assert_eq!(written.len() % 64, 0);
        assert_eq!(NpyHeader::parse(&written).unwrap().shape, vec![3]);
    }
}
