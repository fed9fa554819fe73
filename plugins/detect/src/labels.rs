// SPDX-License-Identifier: MIT OR Apache-2.0
//! Class names: from a model's `names` metadata, a .txt (one per line), an ultralytics
//! data.yaml (`names:` as list or map) or JSON (list or `{"0": name}`).
//!
//! ```
//! use hmg_detect::labels::{parse_python_names, parse_yaml_names};
//! // What ultralytics writes into an ONNX model's `names` metadata:
//! assert_eq!(parse_python_names("{0: 'drone', 1: 'IR-Drone'}").unwrap(), ["drone", "IR-Drone"]);
//! assert_eq!(parse_yaml_names("nc: 2\nnames: [drone, IR-Drone]\n").unwrap(), ["drone", "IR-Drone"]);
//! assert!(parse_yaml_names("nc: 2\n").is_err());
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::DetectError;

/// Name of class `id`, or `class-<id>` when the list has none.
///
/// ```
/// let labels = vec!["drone".to_string(), "IR-Drone".to_string()];
/// assert_eq!(hmg_detect::label_for(&labels, 1), "IR-Drone");
/// assert_eq!(hmg_detect::label_for(&labels, 7), "class-7");
/// ```
pub fn label_for(labels: &[String], id: usize) -> String {
    labels
        .get(id)
        .cloned()
        .unwrap_or_else(|| format!("class-{id}"))
}

/// Loads labels from a file, choosing the format from its extension.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("hmg-doc-labels-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let yaml = dir.join("data.yaml");
/// std::fs::write(&yaml, "nc: 2\nnames:\n  0: drone\n  1: IR-Drone\n")?;
/// assert_eq!(hmg_detect::load_labels(&yaml)?, ["drone", "IR-Drone"]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_labels(path: &Path) -> Result<Vec<String>, DetectError> {
    let err = |reason: String| DetectError::Labels {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it ({e})")))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let labels = match ext.as_str() {
        "yaml" | "yml" => parse_yaml_names(&text),
        "json" => parse_json_names(&text),
        _ => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()),
    }
    .map_err(err)?;
    if labels.is_empty() {
        return Err(err("it holds no class names; write one name per line (.txt) or a `names:` list (data.yaml)".into()));
    }
    if let Some(bad) = labels.iter().find(|n| !is_valid_name(n)) {
        return Err(err(format!(
            "class name {bad:?} holds a control character (newline, tab, NUL): names travel one per line between elements, so it would shift every later name; rename it"
        )));
    }
    Ok(labels)
}

/// A class name hmg carries: no control characters (newline, tab, NUL, …), which would split or
/// cut it where names travel one per line (the `labels` of hmg's metas and properties).
///
/// ```
/// assert!(hmg_detect::labels::is_valid_name("IR-Drone"));
/// assert!(!hmg_detect::labels::is_valid_name("drone\nbird"));
/// assert!(!hmg_detect::labels::is_valid_name("a\0b"));
/// ```
pub fn is_valid_name(name: &str) -> bool {
    !name.chars().any(char::is_control)
}

/// More classes than any detector has: a larger number is a corrupt file, not a class.
const MAX_CLASS_ID: usize = 100_000;

/// Names by class number; gaps get `class-N`.
fn from_map(map: BTreeMap<usize, String>) -> Result<Vec<String>, String> {
    let n = map.keys().next_back().map_or(0, |k| k + 1);
    if n > MAX_CLASS_ID {
        return Err(format!(
            "class number {} is out of range (at most {MAX_CLASS_ID})",
            n - 1
        ));
    }
    Ok((0..n)
        .map(|i| map.get(&i).cloned().unwrap_or_else(|| format!("class-{i}")))
        .collect())
}

/// Parses ultralytics' ONNX `names` metadata, a Python dict literal: `{0: 'person', 1: "bicycle"}`.
pub fn parse_python_names(text: &str) -> Result<Vec<String>, String> {
    let mut p = Scanner {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.expect(b'{')?;
    let mut map = BTreeMap::new();
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.int()?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let value = p.scalar(b",}")?;
        map.insert(key, value);
        p.ws();
        if !p.eat(b',') {
            p.ws();
            p.expect(b'}')?;
            break;
        }
    }
    from_map(map)
}

fn parse_json_names(text: &str) -> Result<Vec<String>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let v = v.get("names").cloned().unwrap_or(v);
    match v {
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .ok_or_else(|| "names must be strings".to_string())
            })
            .collect(),
        serde_json::Value::Object(o) => {
            let mut map = BTreeMap::new();
            for (k, v) in o {
                let k: usize = k
                    .parse()
                    .map_err(|_| format!("key '{k}' is not a class number"))?;
                map.insert(k, v.as_str().ok_or("names must be strings")?.to_string());
            }
            from_map(map)
        }
        _ => Err("expected a list of names or an object {\"0\": name}".into()),
    }
}

/// The `names:` entry of an ultralytics data.yaml: inline list/map or block list/map.
pub fn parse_yaml_names(text: &str) -> Result<Vec<String>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.trim_end().starts_with("names:"))
    else {
        return Err("no `names:` key".into());
    };
    let inline = lines[start]["names:".len()..].trim();
    let inline = strip_comment(inline);
    if !inline.is_empty() {
        let mut p = Scanner {
            s: inline.as_bytes(),
            i: 0,
        };
        if p.eat(b'[') {
            let mut out = Vec::new();
            loop {
                p.ws();
                if p.eat(b']') {
                    break;
                }
                out.push(p.scalar(b",]")?);
                p.ws();
                if !p.eat(b',') {
                    p.ws();
                    p.expect(b']')?;
                    break;
                }
            }
            return Ok(out);
        }
        if inline.starts_with('{') {
            return parse_python_names(inline);
        }
        return Err(format!("cannot read `names: {inline}`"));
    }
    let mut list = Vec::new();
    let mut map = BTreeMap::new();
    for line in &lines[start + 1..] {
        let t = strip_comment(line.trim());
        if t.is_empty() {
            continue;
        }
        if !line.starts_with([' ', '\t', '-']) {
            break;
        }
        if let Some(item) = t.strip_prefix('-') {
            list.push(unquote(item.trim()));
        } else if let Some((k, v)) = t.split_once(':') {
            let k: usize = k
                .trim()
                .parse()
                .map_err(|_| format!("`{t}` is not `<number>: <name>`"))?;
            map.insert(k, unquote(v.trim()));
        }
    }
    if !list.is_empty() {
        Ok(list)
    } else {
        from_map(map)
    }
}

fn strip_comment(s: &str) -> &str {
    // A '#' outside quotes starts a comment.
    let mut quote = None;
    for (i, ch) in s.char_indices() {
        match (ch, quote) {
            ('\'' | '"', None) => quote = Some(ch),
            (c, Some(q)) if c == q => quote = None,
            ('#', None) => return s[..i].trim_end(),
            _ => {}
        }
    }
    s
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'\'' || b[0] == b'"') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at byte {}", c as char, self.i))
        }
    }
    fn int(&mut self) -> Result<usize, String> {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("expected a class number at byte {start}"))
    }
    /// A quoted string (with backslash escapes) or a bare word up to one of `stops`.
    fn scalar(&mut self, stops: &[u8]) -> Result<String, String> {
        let Some(&q) = self.s.get(self.i) else {
            return Err("unexpected end".into());
        };
        if q == b'\'' || q == b'"' {
            self.i += 1;
            let mut out = Vec::new();
            while let Some(&c) = self.s.get(self.i) {
                self.i += 1;
                if c == b'\\' {
                    if let Some(&n) = self.s.get(self.i) {
                        out.push(n);
                        self.i += 1;
                    }
                } else if c == q {
                    return String::from_utf8(out).map_err(|_| "names must be UTF-8".into());
                } else {
                    out.push(c);
                }
            }
            Err("unterminated string".into())
        } else {
            let start = self.i;
            while self.i < self.s.len() && !stops.contains(&self.s[self.i]) {
                self.i += 1;
            }
            let w = String::from_utf8_lossy(&self.s[start..self.i])
                .trim()
                .to_string();
            if w.is_empty() {
                Err(format!("expected a name at byte {start}"))
            } else {
                Ok(w)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn huge_class_numbers_are_refused_not_allocated() {
        // Found by the class_names fuzz target: one name with id 22222222222222 made a
        // 22-trillion-entry list (an allocation failure that would abort the whole process).
        let crash = "{022222222222222: : '           ,}";
        assert!(parse_python_names(crash).is_err());
        let err = parse_python_names("{22222222222222: 'x'}").unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        assert!(parse_yaml_names("names:\n  99999999: x\n").is_err());
        assert_eq!(parse_python_names("{1: 'b'}").unwrap(), ["class-0", "b"]);
    }

    use super::*;

    #[test]
    fn python_dict_literal() {
        let n =
            parse_python_names("{0: 'person', 1: \"bicycle\", 2: 'it\\'s', 3: 'traffic light'}")
                .unwrap();
        assert_eq!(n, vec!["person", "bicycle", "it's", "traffic light"]);
        assert!(parse_python_names("[1, 2]").is_err());
        assert!(parse_python_names("{0: 'a'").is_err());
    }

    #[test]
    fn yaml_forms() {
        assert_eq!(
            parse_yaml_names("path: x\nnames: [drone, 'IR-Drone']\n").unwrap(),
            vec!["drone", "IR-Drone"]
        );
        assert_eq!(
            parse_yaml_names("names:\n  - drone\n  - IR-Drone # ir\nnc: 2\n").unwrap(),
            vec!["drone", "IR-Drone"]
        );
        assert_eq!(
            parse_yaml_names("names:\n  0: drone\n  2: bird\ntrain: a\n").unwrap(),
            vec!["drone", "class-1", "bird"]
        );
        assert_eq!(
            parse_yaml_names("names: {0: a, 1: b}").unwrap(),
            vec!["a", "b"]
        );
        assert!(parse_yaml_names("nc: 2").is_err());
    }

    #[test]
    fn json_and_fallback() {
        assert_eq!(parse_json_names("[\"a\", \"b\"]").unwrap(), vec!["a", "b"]);
        assert_eq!(
            parse_json_names("{\"names\": {\"1\": \"b\", \"0\": \"a\"}}").unwrap(),
            vec!["a", "b"]
        );
        assert!(parse_json_names("{\"x\": 1}").is_err());
        assert_eq!(label_for(&["a".into()], 3), "class-3");
    }
}
