// SPDX-License-Identifier: MIT OR Apache-2.0
//! Graph templates (`graphs/*.gst`): a `gst-launch-1.0` description with `${NAME}` variables,
//! documented in the comment header:
//!
//! ```text
//! # Variables:
//! #   MODEL   model file (.onnx, or .hef with HailoRT)   (default: models/yolov12n-coco.onnx)
//! #   INPUT   video file to read                         (required, e.g. media/bikes.mp4)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::sources::quote;
use crate::usage::UsageError;

/// One documented variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub help: String,
    /// `None`: the user must set it.
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub path: PathBuf,
    /// The comment header's first line (what the graph is for).
    pub title: String,
    pub variables: Vec<Variable>,
    body: String,
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read graph template '{}': {e}", path.display()))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let mut variables = Vec::new();
        let mut body = Vec::new();
        let mut title = String::new();
        let mut in_vars = false;
        for line in text.lines() {
            let Some(comment) = line.trim_start().strip_prefix('#') else {
                body.push(line);
                continue;
            };
            let comment = comment.trim();
            if title.is_empty() && !comment.is_empty() {
                title = comment.to_string();
            }
            if comment.eq_ignore_ascii_case("variables:") {
                in_vars = true;
                continue;
            }
            if !in_vars || comment.is_empty() {
                in_vars = in_vars && !comment.is_empty();
                continue;
            }
            variables.push(parse_variable(comment).ok_or_else(|| {
                anyhow::anyhow!(
                    "'{}': variable line '{comment}' must read `NAME  help  (default: value)` or `(required, e.g. value)`",
                    path.display()
                )
            })?);
        }
        let body = body.join("\n").trim().to_string();
        let t = Self {
            path: path.to_path_buf(),
            title,
            variables,
            body,
        };
        for used in t.used_names() {
            if !t.variables.iter().any(|v| v.name == used) {
                anyhow::bail!(
                    "'{}' uses ${{{used}}} but does not document it",
                    path.display()
                );
            }
        }
        Ok(t)
    }

    fn used_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            names.push(after[..end].to_string());
            rest = &after[end + 1..];
        }
        names
    }

    /// The launch line with every variable filled: `values` override the defaults; an unknown
    /// or missing variable is a usage error.
    pub fn fill(&self, values: &BTreeMap<String, String>) -> Result<String, UsageError> {
        for name in values.keys() {
            if !self.variables.iter().any(|v| &v.name == name) {
                let known: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
                return Err(UsageError(format!(
                    "graph '{}' has no variable {name} (it has: {})",
                    self.path.display(),
                    known.join(", ")
                )));
            }
        }
        let mut out = self.body.clone();
        for v in &self.variables {
            let value = values.get(&v.name).or(v.default.as_ref()).ok_or_else(|| {
                UsageError(format!(
                    "graph '{}' needs {}: add --set {}=… ({})",
                    self.path.display(),
                    v.name,
                    v.name,
                    v.help
                ))
            })?;
            out = out.replace(&format!("${{{}}}", v.name), &quote(value));
        }
        // One line, as gst-launch-1.0 takes it.
        Ok(out.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

fn parse_variable(line: &str) -> Option<Variable> {
    let (name, rest) = line.split_once(char::is_whitespace)?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let rest = rest.trim();
    let open = rest.rfind('(')?;
    let spec = rest[open + 1..].strip_suffix(')')?.trim();
    let help = rest[..open].trim().to_string();
    let default = if let Some(d) = spec.strip_prefix("default:") {
        Some(d.trim().to_string())
    } else if spec.starts_with("required") {
        None
    } else {
        return None;
    };
    Some(Variable {
        name: name.to_string(),
        help,
        default,
    })
}

/// `--set KEY=VALUE` arguments as a map.
pub fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| UsageError(format!("--set '{s}' must read KEY=VALUE")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# demo graph\n#\n# Variables:\n#   INPUT  file to read  (required, e.g. a.mp4)\n#   CONF   threshold     (default: 0.25)\n\nfilesrc location=${INPUT}\n  ! yolonms conf=${CONF}\n";

    #[test]
    fn fills_defaults_and_values() {
        let t = Template::parse(Path::new("t.gst"), TEXT).unwrap();
        assert_eq!(t.title, "demo graph");
        assert_eq!(t.variables.len(), 2);
        let mut v = BTreeMap::new();
        v.insert("INPUT".to_string(), "my clip.mp4".to_string());
        assert_eq!(
            t.fill(&v).unwrap(),
            "filesrc location=\"my clip.mp4\" ! yolonms conf=0.25"
        );
    }

    #[test]
    fn unknown_and_missing_variables_are_usage_errors() {
        let t = Template::parse(Path::new("t.gst"), TEXT).unwrap();
        let err = t.fill(&BTreeMap::new()).unwrap_err().0;
        assert!(
            err.contains("needs INPUT") && err.contains("--set INPUT="),
            "{err}"
        );
        let mut v = BTreeMap::new();
        v.insert("INPUT".into(), "a".into());
        v.insert("MODLE".into(), "b".into());
        assert!(
            t.fill(&v)
                .unwrap_err()
                .0
                .contains("no variable MODLE (it has: INPUT, CONF)")
        );
        assert!(parse_sets(&["novalue".into()]).is_err());
    }

    #[test]
    fn undocumented_variables_are_refused() {
        let text = "# x\n# Variables:\n#   A  a  (default: 1)\nfoo a=${A} b=${B}\n";
        assert!(
            Template::parse(Path::new("t.gst"), text)
                .unwrap_err()
                .to_string()
                .contains("${B}")
        );
    }
}
