// SPDX-License-Identifier: MIT OR Apache-2.0
//! HEF header and protobuf preamble, read without Hailo's library (HAILO.md §3): enough to say
//! what a file is, which chip it was compiled for and with which SDK, and to refuse a truncated
//! or foreign file before HailoRT sees it.
//!
//! ```
//! use hmg_detect::hef::{HefError, HwArch, parse};
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/hailo/nudenet320.hef"))?;
//! let header = parse(&bytes)?;
//! assert_eq!(header.hw_arch.to_string(), "Hailo-8");
//! assert!(header.hw_arch.runs_on_hailo8() && !header.hw_arch.runs_on_hailo8l());
//! // HailoRT refuses architecture 0 on a Hailo-8 (it takes 1, 2 and 3).
//! assert!(!HwArch::from_proto(0).runs_on_hailo8());
//! assert_eq!(header.sdk_version.as_deref(), Some("3.33.0"));
//! assert_eq!(parse(b"PNG not a HEF"), Err(HefError::NotHef));
//! assert!(matches!(parse(&bytes[..20]), Err(HefError::Truncated { .. })));
//! assert_eq!(HwArch::from_proto(3), HwArch::Hailo8L);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

const MAGIC: u32 = 0x0148_4546;
/// The header preamble is never larger than this (v3: 56 bytes).
const MAX_HEADER: usize = 56;
/// `ProtoHEFHeader` is a few dozen bytes; anything huge is not a HEF header.
const MAX_PROTO_HEADER: u64 = 64 * 1024;

/// Chip a HEF was compiled for (`ProtoHEFHwArch` in HailoRT's `hef.proto`).
///
/// The protobuf's names are not what users see: the Dataflow Compiler writes 1 (`HAILO8P`)
/// for `--hw-arch hailo8`, and HailoRT's Hailo-8 accepts only 1, 2 and 3
/// (`DeviceBase::is_hef_compatible`); 0 (`HAILO8`) is an early format it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum HwArch {
    /// Architecture 0: an early Hailo-8 format no HailoRT 4.x runs on a Hailo-8.
    Hailo8Legacy,
    /// Hailo-8 (architecture 1, what `--hw-arch hailo8` writes).
    Hailo8,
    /// Hailo-8R (architecture 2).
    Hailo8R,
    /// Hailo-8L (architecture 3).
    Hailo8L,
    /// Hailo-15M.
    Hailo15M,
    /// Hailo-10H.
    Hailo10H,
    /// Hailo-15L.
    Hailo15L,
    /// Hailo-15H.
    Hailo15H,
    /// A chip number this hmg does not know.
    Other(u64),
}

impl HwArch {
    /// The chip a HEF's protobuf `hw_arch` value names.
    pub fn from_proto(v: u64) -> Self {
        match v {
            0 => Self::Hailo8Legacy,
            1 => Self::Hailo8,
            2 => Self::Hailo8R,
            3 => Self::Hailo8L,
            4 => Self::Hailo15M,
            5 => Self::Hailo10H,
            6 => Self::Hailo15L,
            103 => Self::Hailo15H,
            other => Self::Other(other),
        }
    }

    /// The protobuf value (`ProtoHEFHwArch`).
    pub fn to_proto(self) -> u64 {
        match self {
            Self::Hailo8Legacy => 0,
            Self::Hailo8 => 1,
            Self::Hailo8R => 2,
            Self::Hailo8L => 3,
            Self::Hailo15M => 4,
            Self::Hailo10H => 5,
            Self::Hailo15L => 6,
            Self::Hailo15H => 103,
            Self::Other(v) => v,
        }
    }

    /// The `--hw-arch` name of Hailo's tools.
    pub fn name(self) -> String {
        match self {
            Self::Hailo8 => "hailo8".into(),
            Self::Hailo8Legacy => "hailo8 (architecture 0)".into(),
            Self::Hailo8R => "hailo8r".into(),
            Self::Hailo8L => "hailo8l".into(),
            Self::Hailo15M => "hailo15m".into(),
            Self::Hailo10H => "hailo10h".into(),
            Self::Hailo15L => "hailo15l".into(),
            Self::Hailo15H => "hailo15h".into(),
            Self::Other(v) => format!("unknown ({v})"),
        }
    }

    /// Whether a Hailo-8 runs it: HailoRT takes 8, 8R and 8L HEFs (8L ones run slower).
    pub fn runs_on_hailo8(self) -> bool {
        matches!(self, Self::Hailo8 | Self::Hailo8R | Self::Hailo8L)
    }

    /// Whether a Hailo-8L runs it (only HEFs compiled for the 8L).
    pub fn runs_on_hailo8l(self) -> bool {
        self == Self::Hailo8L
    }
}

impl From<HwArch> for String {
    fn from(a: HwArch) -> String {
        a.name()
    }
}

impl fmt::Display for HwArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = match self {
            Self::Hailo8 => "Hailo-8",
            Self::Hailo8Legacy => {
                return f.write_str(
                    "an early Hailo-8 format (architecture 0) that HailoRT no longer runs",
                );
            }
            Self::Hailo8R => "Hailo-8R",
            Self::Hailo8L => "Hailo-8L",
            Self::Hailo15M => "Hailo-15M",
            Self::Hailo10H => "Hailo-10H",
            Self::Hailo15L => "Hailo-15L",
            Self::Hailo15H => "Hailo-15H",
            Self::Other(v) => return write!(f, "an unknown Hailo chip (architecture {v})"),
        };
        f.write_str(pretty)
    }
}

/// What the header of a HEF says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HefHeader {
    /// Size of the file on disk.
    pub file_size: u64,
    /// Header format version (0–3).
    pub version: u32,
    /// Bytes of the fixed header before the protobuf.
    pub header_size: u64,
    /// Bytes of the protobuf the header declares.
    pub proto_size: u64,
    /// Bytes the header says the file has (header + proto + compiled code it declares).
    pub declared_size: u64,
    /// The chip the HEF was compiled for.
    pub hw_arch: HwArch,
    /// Dataflow Compiler version, when the header records it.
    pub sdk_version: Option<String>,
    /// Compile time in Unix **milliseconds** (`ProtoHEFHeader.timestamp`), when recorded.
    pub timestamp_ms: Option<u64>,
    /// Network groups in the protobuf (`ProtoHEFHef.network_groups`). HailoRT 4.20 opens a
    /// file without any, then crashes when asked for its vstreams: hmg never asks.
    pub network_groups: u32,
}

impl HefHeader {
    /// The oldest HailoRT (major, minor) that reads this header format, when newer than 4.0:
    /// v3 headers (Dataflow Compiler 3.32 on) are read from HailoRT 4.21.
    pub fn min_hailort(&self) -> Option<(u32, u32)> {
        (self.version >= 3).then_some((4, 21))
    }
}

/// Why a file is not a usable HEF.
// Each variant's `#[error]` text is its documentation.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HefError {
    #[error(
        "is not a HEF file (it does not start with the HEF magic 01 48 45 46); compile the model with `hmg compile` or Hailo's `hailo compiler`"
    )]
    NotHef,
    #[error("is truncated: {have} bytes, the header needs {need}; copy the file again")]
    Truncated { have: u64, need: u64 },
    #[error(
        "has HEF header version {0}, which this hmg does not know (0–3); update hmg or recompile with a supported Dataflow Compiler"
    )]
    UnknownVersion(u32),
    #[error(
        "has {} bytes after the end its header declares ({have} bytes, the header says {declared}); HailoRT refuses such a file: copy or compile it again",
        have - declared
    )]
    TrailingBytes { have: u64, declared: u64 },
    #[error(
        "is damaged: its {0} checksum does not match its contents (HailoRT refuses it); copy the file again or recompile it"
    )]
    ChecksumMismatch(&'static str),
    #[error("is malformed: {0}, and HailoRT crashes on such a file; recompile it")]
    CrashesHailoRt(String),
    #[error("has a damaged header: {0}; copy or compile the file again")]
    Corrupt(String),
    #[error("cannot be read: {0}")]
    Io(String),
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Reads the header of the HEF at `path`, touching only its first bytes.
///
/// ```
/// let hef = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/hailo/nudenet320-hailo8l.hef");
/// let header = hmg_detect::hef::read_header(std::path::Path::new(hef))?;
/// assert_eq!(header.hw_arch, hmg_detect::hef::HwArch::Hailo8L);
/// assert!(header.hw_arch.runs_on_hailo8()); // a Hailo-8L HEF also runs on a Hailo-8
/// # Ok::<(), hmg_detect::hef::HefError>(())
/// ```
pub fn read_header(path: &Path) -> Result<HefHeader, HefError> {
    let mut file = std::fs::File::open(path).map_err(|e| HefError::Io(e.to_string()))?;
    let file_size = file
        .metadata()
        .map_err(|e| HefError::Io(e.to_string()))?
        .len();
    let mut head = vec![0u8; MAX_HEADER.min(file_size as usize)];
    file.read_exact(&mut head)
        .map_err(|e| HefError::Io(e.to_string()))?;
    let (mut header, proto_at) = parse_preamble(&head, file_size)?;
    file.seek(SeekFrom::Start(proto_at))
        .map_err(|e| HefError::Io(e.to_string()))?;
    let mut proto = Vec::new();
    (&mut file)
        .take(header.proto_size.min(MAX_PROTO_HEADER + 16))
        .read_to_end(&mut proto)
        .map_err(|e| HefError::Io(e.to_string()))?;
    read_proto_header(&proto, &mut header)?;
    file.seek(SeekFrom::Start(proto_at))
        .map_err(|e| HefError::Io(e.to_string()))?;
    header.network_groups = check_network_groups(
        &mut std::io::BufReader::new(file).take(header.proto_size),
        header.hw_arch,
    )?;
    Ok(header)
}

fn read_varint(r: &mut dyn Read) -> Result<Option<u64>, HefError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8; 1];
        if r.read(&mut byte).map_err(|e| HefError::Io(e.to_string()))? == 0 {
            return if shift == 0 {
                Ok(None)
            } else {
                Err(HefError::Corrupt("protobuf ends inside a number".into()))
            };
        }
        v |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(Some(v));
        }
    }
    Err(HefError::Corrupt(
        "protobuf number longer than 10 bytes".into(),
    ))
}

/// Walks the fields of one protobuf message read from `r` (to its end), calling
/// `on_message(field, contents)` for each length-delimited field; the callback must read what
/// it wants of `contents`, the rest is skipped.
fn walk_message(
    r: &mut dyn Read,
    on_message: &mut dyn FnMut(u64, &mut dyn Read) -> Result<(), HefError>,
) -> Result<(), HefError> {
    while let Some(tag) = read_varint(r)? {
        let len = match tag & 7 {
            0 => {
                read_varint(r)?;
                0
            }
            1 => 8,
            2 => read_varint(r)?
                .ok_or_else(|| HefError::Corrupt("protobuf field without a length".into()))?,
            5 => 4,
            w => return Err(HefError::Corrupt(format!("protobuf wire type {w}"))),
        };
        let mut contents = (&mut *r).take(len);
        if tag & 7 == 2 {
            on_message(tag >> 3, &mut contents)?;
        }
        std::io::copy(&mut contents, &mut std::io::sink())
            .map_err(|e| HefError::Io(e.to_string()))?;
        if contents.limit() != 0 {
            return Err(HefError::Corrupt(
                "protobuf field runs past the data".into(),
            ));
        }
    }
    Ok(())
}

/// Counts `ProtoHEFHef.network_groups` (field 2) and checks each holds what HailoRT 4.20
/// dereferences without checking: contexts (3), partial network groups (7) or ops (8) — and, for
/// a Hailo-8L (HailoRT reads its network per cluster layout), partial network groups or ops.
/// HailoRT crashes (SIGSEGV) opening a file without them; hmg refuses it instead.
fn check_network_groups(r: &mut impl Read, hw_arch: HwArch) -> Result<u32, HefError> {
    let mut groups = 0u32;
    let mut problem = None;
    walk_message(r, &mut |field, contents| {
        if field != 2 {
            return Ok(());
        }
        groups = groups.saturating_add(1);
        let (mut contexts, mut partial, mut ops) = (false, false, false);
        walk_message(contents, &mut |inner, _| {
            match inner {
                3 => contexts = true,
                7 => partial = true,
                8 => ops = true,
                _ => {}
            }
            Ok(())
        })?;
        if problem.is_none() {
            if !(contexts || partial || ops) {
                problem = Some(format!(
                    "network group {groups} has no contexts, ops or partial network groups"
                ));
            } else if hw_arch == HwArch::Hailo8L && !(partial || ops) {
                problem = Some(format!(
                    "network group {groups} of a Hailo-8L HEF has no partial network groups"
                ));
            }
        }
        Ok(())
    })?;
    match problem {
        Some(p) => Err(HefError::CrashesHailoRt(p)),
        None => Ok(groups),
    }
}

/// The checksum a HEF carries, by header version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// v0: MD5 of the protobuf.
    Md5,
    /// v1: CRC-32 of everything after the header.
    Crc32,
    /// v2: XXH3-64 of everything after the header.
    Xxh3,
    /// v3: not checked by hmg (its rule is not in the HailoRT 4.20 source hmg is tested against).
    NotChecked,
}

/// Reads the header of the HEF at `path` and checks its checksum the way HailoRT does when it
/// opens the file (`hef.cpp`): a file damaged anywhere, not only in its header, is refused.
/// Reads the whole file (a HEF is a few MB; XXH3 runs at several GB/s).
pub fn verify(path: &Path) -> Result<(HefHeader, Checksum), HefError> {
    let header = read_header(path)?;
    let io = |e: std::io::Error| HefError::Io(e.to_string());
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = vec![0u8; header.header_size as usize];
    file.read_exact(&mut head).map_err(io)?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut feed = |update: &mut dyn FnMut(&[u8])| -> Result<(), HefError> {
        loop {
            let n = file.read(&mut chunk).map_err(io)?;
            if n == 0 {
                return Ok(());
            }
            update(&chunk[..n]);
        }
    };
    let (kind, ok) = match header.version {
        0 => {
            use md5::Digest;
            let mut md5 = md5::Md5::new();
            feed(&mut |b| md5.update(b))?;
            (Checksum::Md5, md5.finalize().as_slice() == &head[16..32])
        }
        1 => {
            let mut crc = crc32fast::Hasher::new();
            feed(&mut |b| crc.update(b))?;
            (Checksum::Crc32, crc.finalize() == be32(&head, 12))
        }
        2 => {
            let mut xxh3 = xxhash_rust::xxh3::Xxh3::new();
            feed(&mut |b| xxh3.update(b))?;
            (Checksum::Xxh3, xxh3.digest() == be64(&head, 12))
        }
        _ => (Checksum::NotChecked, true),
    };
    if !ok {
        let name = match kind {
            Checksum::Md5 => "MD5",
            Checksum::Crc32 => "CRC-32",
            _ => "XXH3",
        };
        return Err(HefError::ChecksumMismatch(name));
    }
    Ok((header, kind))
}

/// Parses a whole HEF held in memory (the fuzz target's entry point).
pub fn parse(bytes: &[u8]) -> Result<HefHeader, HefError> {
    let (mut header, proto_at) =
        parse_preamble(&bytes[..bytes.len().min(MAX_HEADER)], bytes.len() as u64)?;
    let proto = &bytes[proto_at as usize..];
    let proto = &proto[..proto
        .len()
        .min(header.proto_size.min(MAX_PROTO_HEADER + 16) as usize)];
    read_proto_header(proto, &mut header)?;
    let whole = &bytes[proto_at as usize..];
    header.network_groups = check_network_groups(
        &mut &whole[..whole.len().min(header.proto_size as usize)],
        header.hw_arch,
    )?;
    Ok(header)
}

/// The fixed big-endian header: returns it and where the protobuf starts.
fn parse_preamble(b: &[u8], file_size: u64) -> Result<(HefHeader, u64), HefError> {
    if b.len() < 4 || be32(b, 0) != MAGIC {
        return Err(if b.len() < 4 && MAGIC.to_be_bytes().starts_with(b) {
            HefError::Truncated {
                have: file_size,
                need: 12,
            }
        } else {
            HefError::NotHef
        });
    }
    if b.len() < 12 {
        return Err(HefError::Truncated {
            have: file_size,
            need: 12,
        });
    }
    let version = be32(b, 4);
    let proto_size = be32(b, 8) as u64;
    let header_size: u64 = match version {
        0 => 32,
        1 => 28,
        2 => 44,
        3 => 56,
        v => return Err(HefError::UnknownVersion(v)),
    };
    if (b.len() as u64) < header_size {
        return Err(HefError::Truncated {
            have: file_size,
            need: header_size,
        });
    }
    let code_size = match version {
        0 => 0,
        1 => be64(b, 16),
        2 => be64(b, 20),
        _ => {
            // v3: ccws_size_with_padding, hef_padding_size, additional_info_size. The padding
            // lies inside ccws_size_with_padding (HailoRT's hef.cpp): it is not added again.
            let ccws_with_padding = be64(b, 20);
            let padding = be32(b, 28) as u64;
            if padding > ccws_with_padding {
                return Err(HefError::Corrupt(format!(
                    "{padding} bytes of padding in {ccws_with_padding} bytes of compiled code"
                )));
            }
            ccws_with_padding
                .checked_add(be64(b, 32))
                .ok_or_else(|| HefError::Corrupt("sizes overflow".into()))?
        }
    };
    let declared_size = header_size
        .checked_add(proto_size)
        .and_then(|s| s.checked_add(code_size))
        .ok_or_else(|| HefError::Corrupt("sizes overflow".into()))?;
    if file_size < declared_size {
        return Err(HefError::Truncated {
            have: file_size,
            need: declared_size,
        });
    }
    // HailoRT requires the exact size (HAILO_HEF_FILE_CORRUPTED from 4.21, INVALID_HEF before).
    if file_size > declared_size {
        return Err(HefError::TrailingBytes {
            have: file_size,
            declared: declared_size,
        });
    }
    let header = HefHeader {
        file_size,
        version,
        header_size,
        proto_size,
        declared_size,
        // proto3 leaves a zero out: a header without hw_arch says architecture 0.
        hw_arch: HwArch::Hailo8Legacy,
        sdk_version: None,
        timestamp_ms: None,
        network_groups: 0,
    };
    Ok((header, header_size))
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self) -> Result<u64, HefError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .b
                .get(self.at)
                .ok_or_else(|| HefError::Corrupt("protobuf ends inside a number".into()))?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(HefError::Corrupt(
            "protobuf number longer than 10 bytes".into(),
        ))
    }

    fn bytes(&mut self, len: u64) -> Result<&'a [u8], HefError> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.at.checked_add(l))
            .filter(|&e| e <= self.b.len());
        let end =
            end.ok_or_else(|| HefError::Corrupt("protobuf field runs past the data".into()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    /// Skips a field of `wire` type; fixed-size fields are skipped, groups refused.
    fn skip(&mut self, wire: u64) -> Result<(), HefError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.bytes(8).map(|_| ()),
            2 => {
                let len = self.varint()?;
                self.bytes(len).map(|_| ())
            }
            5 => self.bytes(4).map(|_| ()),
            w => Err(HefError::Corrupt(format!("protobuf wire type {w}"))),
        }
    }
}

/// `ProtoHEFHef.header` (field 1) holds hw_arch (1), timestamp (2), sdk_version (3). HailoRT
/// writes it first; only the start of the protobuf is searched.
fn read_proto_header(proto: &[u8], header: &mut HefHeader) -> Result<(), HefError> {
    let mut top = Cursor { b: proto, at: 0 };
    while top.at < proto.len() {
        let tag = top.varint()?;
        let (field, wire) = (tag >> 3, tag & 7);
        if field == 1 && wire == 2 {
            let len = top.varint()?;
            if len > MAX_PROTO_HEADER {
                return Err(HefError::Corrupt(format!(
                    "HEF header message of {len} bytes"
                )));
            }
            let mut inner = Cursor {
                b: top.bytes(len)?,
                at: 0,
            };
            while inner.at < inner.b.len() {
                let tag = inner.varint()?;
                match (tag >> 3, tag & 7) {
                    (1, 0) => header.hw_arch = HwArch::from_proto(inner.varint()?),
                    (2, 0) => header.timestamp_ms = Some(inner.varint()?),
                    (3, 2) => {
                        let len = inner.varint()?;
                        let text = inner.bytes(len)?;
                        header.sdk_version = Some(String::from_utf8_lossy(text).into_owned());
                    }
                    (_, wire) => inner.skip(wire)?,
                }
            }
            return Ok(());
        }
        top.skip(wire)?;
    }
    Err(HefError::Corrupt(
        "no HEF header message in the protobuf".into(),
    ))
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::MAGIC;

    /// A HEF of header `version` (0–3) with `code` bytes of compiled code (v3: of which
    /// `padding` are padding) and a protobuf with `hw_arch`, a time stamp and `sdk_version`.
    pub fn hef_v(version: u32, arch: u8, code: u64, padding: u32) -> Vec<u8> {
        let inner = [&[0x08, arch, 0x10, 0xe8, 0x07, 0x1a, 6][..], b"3.33.0"].concat();
        let proto = [&[0x0a, inner.len() as u8][..], &inner].concat();
        let mut b = Vec::new();
        b.extend(MAGIC.to_be_bytes());
        b.extend(version.to_be_bytes());
        b.extend((proto.len() as u32).to_be_bytes());
        match version {
            0 => b.extend([0u8; 20]),
            1 => {
                b.extend(0u32.to_be_bytes());
                b.extend(code.to_be_bytes());
                b.extend(0u32.to_be_bytes());
            }
            2 => {
                b.extend(0u64.to_be_bytes());
                b.extend(code.to_be_bytes());
                b.extend([0u8; 16]);
            }
            _ => {
                b.extend(0u64.to_be_bytes());
                b.extend(code.to_be_bytes());
                b.extend(padding.to_be_bytes());
                b.extend(0u64.to_be_bytes());
                b.extend([0u8; 16]);
            }
        }
        b.extend(&proto);
        b.extend(vec![0u8; if version == 0 { 0 } else { code as usize }]);
        b
    }

    /// A v2 header, as the Dataflow Compilers of the DFC 3.2x era write.
    pub fn hef(arch: u8, code: u64) -> Vec<u8> {
        hef_v(2, arch, code, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::{hef, hef_v};
    use super::*;

    #[test]
    fn reads_arch_and_sdk() {
        let h = parse(&hef(3, 10)).unwrap();
        assert_eq!(
            (h.version, h.hw_arch, h.sdk_version.as_deref()),
            (2, HwArch::Hailo8L, Some("3.33.0"))
        );
        assert_eq!(h.declared_size, h.file_size);
        assert!(h.hw_arch.runs_on_hailo8() && h.hw_arch.runs_on_hailo8l());
        let h8 = parse(&hef(1, 0)).unwrap();
        assert!(h8.hw_arch.runs_on_hailo8() && !h8.hw_arch.runs_on_hailo8l());
        assert_eq!(h8.hw_arch.name(), "hailo8");
    }

    #[test]
    fn every_header_version_has_its_size() {
        for version in 0..=3 {
            let h = parse(&hef_v(version, 1, 100, 12)).unwrap();
            assert_eq!(h.version, version);
            assert_eq!(h.declared_size, h.file_size, "v{version}");
            assert_eq!(h.min_hailort(), (version == 3).then_some((4, 21)));
        }
    }

    #[test]
    fn v3_padding_is_inside_the_compiled_code() {
        // HailoRT: header + proto + ccws_size_with_padding + additional_info_size.
        let b = hef_v(3, 1, 4096, 96);
        let h = parse(&b).unwrap();
        assert_eq!(h.declared_size, b.len() as u64);
        let mut bad = hef_v(3, 1, 64, 0);
        bad[28..32].copy_from_slice(&100u32.to_be_bytes());
        assert!(matches!(parse(&bad), Err(HefError::Corrupt(_))));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        for version in 0..=3 {
            let mut b = hef_v(version, 1, 10, 0);
            b.push(0);
            assert_eq!(
                parse(&b),
                Err(HefError::TrailingBytes {
                    have: b.len() as u64,
                    declared: b.len() as u64 - 1
                }),
                "v{version}"
            );
        }
    }

    #[test]
    fn architecture_zero_does_not_run_on_a_hailo8() {
        let h = parse(&hef(0, 0)).unwrap();
        assert_eq!(h.hw_arch, HwArch::Hailo8Legacy);
        assert!(!h.hw_arch.runs_on_hailo8() && !h.hw_arch.runs_on_hailo8l());
        for v in [1, 2, 3] {
            assert!(HwArch::from_proto(v).runs_on_hailo8(), "{v}");
            assert_eq!(HwArch::from_proto(v).to_proto(), v);
        }
    }

    /// A v2 HEF (no compiled code) whose protobuf ends with a network group holding `group`.
    fn with_group(arch: u8, group: &[u8]) -> Vec<u8> {
        let mut b = hef(arch, 0);
        b.extend([0x12, group.len() as u8]);
        b.extend(group);
        let proto = u32::from_be_bytes(b[8..12].try_into().unwrap()) + 2 + group.len() as u32;
        b[8..12].copy_from_slice(&proto.to_be_bytes());
        b
    }

    #[test]
    fn network_groups_hailort_would_crash_on_are_refused() {
        assert_eq!(parse(&hef(1, 0)).unwrap().network_groups, 0);
        // Metadata (1) and one context (3): what HailoRT needs.
        let ok = with_group(1, &[0x0a, 0x02, 0x0a, 0x00, 0x1a, 0x00]);
        assert_eq!(parse(&ok).unwrap().network_groups, 1);
        // Only a name: HailoRT 4.20 segfaults opening it.
        let named = with_group(1, &[0x52, 0x01, b'n']);
        let err = parse(&named).unwrap_err().to_string();
        assert!(
            err.contains("no contexts, ops or partial network groups"),
            "{err}"
        );
        // A Hailo-8L network read per cluster layout needs its partial network groups.
        let err = parse(&with_group(3, &[0x1a, 0x00]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Hailo-8L HEF has no partial network groups"),
            "{err}"
        );
        assert_eq!(
            parse(&with_group(3, &[0x3a, 0x00])).unwrap().network_groups,
            1
        );
    }

    #[test]
    fn timestamp_is_milliseconds() {
        // The helper writes 1000 (varint e8 07): one second after the epoch, in milliseconds.
        assert_eq!(parse(&hef(1, 0)).unwrap().timestamp_ms, Some(1000));
    }

    #[test]
    fn refuses_bad_files() {
        assert_eq!(parse(b"\x89PNG\r\n\x1a\n........"), Err(HefError::NotHef));
        assert_eq!(parse(b""), Err(HefError::Truncated { have: 0, need: 12 }));
        let full = hef(1, 100);
        assert!(matches!(
            parse(&full[..full.len() - 1]),
            Err(HefError::Truncated { .. })
        ));
        assert!(matches!(
            parse(&full[..20]),
            Err(HefError::Truncated { .. })
        ));
        let mut v9 = full.clone();
        v9[7] = 9;
        assert_eq!(parse(&v9), Err(HefError::UnknownVersion(9)));
        let mut broken = full;
        broken[45] = 0xff; // the header message's length now runs past the data
        assert!(matches!(parse(&broken), Err(HefError::Corrupt(_))));
    }
}
