// SPDX-License-Identifier: MIT OR Apache-2.0
//! data.yaml on arbitrary text (alias bombs included): Ok or Err within bounded memory, never a
//! panic; when hmg rewrites a valid one for new folders and names, the result reads back as what
//! it was told to say.
#![no_main]

use std::path::{Path, PathBuf};

use hmg_launcher::dataset::data_yaml::DataYaml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let file = Path::new("/datasets/data.yaml");
    if DataYaml::parse(file, text).is_err() {
        return;
    }
    let root = Path::new("/elsewhere/set");
    let names = vec!["drone".to_string(), "bird: small".to_string()];
    let Ok(Some(edited)) = DataYaml::updated(file, text, root, &names) else {
        return;
    };
    let again = DataYaml::parse(file, &edited)
        .unwrap_or_else(|e| panic!("hmg's own rewrite must parse: {e:#}\n---\n{edited}"));
    assert_eq!(again.names, names, "{edited}");
    let images = |split: &str| vec![PathBuf::from(root).join(split).join("images")];
    assert_eq!(again.train, images("train"), "{edited}");
    assert_eq!(again.val, images("val"), "{edited}");
});
