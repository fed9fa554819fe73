// SPDX-License-Identifier: MIT OR Apache-2.0
//! What hmg's small web servers (the annotator, the live view) share: a per-run token in the link,
//! compared in constant time, and the refusals made before it is even looked at.

use tiny_http::{Header, Request, Response};

/// A per-run secret for the URL, from the kernel's random source.
pub fn token() -> anyhow::Result<String> {
    use anyhow::Context;
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the page token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `request` carries `token`, in the query (`token=`) or the X-Hmg-Token header.
pub fn authorized(request: &Request, query: &str, token: &str) -> bool {
    let from_query = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .unwrap_or("");
    let from_header = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("X-Hmg-Token"))
        .map(|h| h.value.as_str().to_string())
        .unwrap_or_default();
    same_secret(from_query, token) || same_secret(&from_header, token)
}

pub fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

pub fn json(value: &serde_json::Value) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(value.to_string().into_bytes())
        .with_header(header("Content-Type", "application/json"))
}

pub fn status(code: u16, text: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_data(text.as_bytes().to_vec())
        .with_status_code(code)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

/// Equal-time comparison, so the token cannot be guessed byte by byte from response times.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Longest URL and header block the page ever sends, with room to spare.
const MAX_URL: usize = 8 << 10;
const MAX_HEADERS: usize = 16 << 10;

/// Refusals before the token is even looked at: oversized requests, and requests a web page on
/// another site could make the user's browser send (DNS rebinding gives a foreign Host name;
/// a cross-site form POST carries a foreign Origin).
pub fn refuse_early(request: &Request, max_body: u64) -> Option<(u16, String)> {
    if request.url().len() > MAX_URL {
        return Some((414, "the address is too long".into()));
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|h| h.field.as_str().as_str().len() + h.value.as_str().len() + 4)
        .sum();
    if header_bytes > MAX_HEADERS {
        return Some((431, "the request's headers are too large".into()));
    }
    if request.body_length().is_some_and(|n| n as u64 > max_body) {
        return Some((413, format!("the request body is over {max_body} bytes")));
    }
    let value = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
    };
    let host = value("Host").unwrap_or_default();
    if !is_local_host(&host) {
        return Some((
            421,
            format!("this server answers for its own address only, not '{host}'"),
        ));
    }
    if let Some(origin) = value("Origin")
        && origin != format!("http://{host}")
    {
        return Some((403, format!("requests from '{origin}' are not accepted")));
    }
    None
}

/// A Host header naming this machine by address or as localhost (never a DNS name, which a
/// rebinding attack controls), with its port.
pub fn is_local_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", "abc"));
    }

    #[test]
    fn local_hosts_are_addresses_or_localhost() {
        assert!(is_local_host("127.0.0.1:8080"));
        assert!(is_local_host("[::1]:80"));
        assert!(is_local_host("localhost"));
        assert!(!is_local_host("evil.example:8080"));
    }
}
