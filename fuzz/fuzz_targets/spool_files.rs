// SPDX-License-Identifier: MIT OR Apache-2.0
//! detmqtt's spool folder with arbitrary files in it (names and contents: a crash's leftovers,
//! foreign files, damaged messages): only records detmqtt wrote are handed to the sender; every
//! other message file is set aside and counted; the queue always drains.
#![no_main]

use std::time::Duration;

use gsthmg::detmqtt::spool::Spool;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|files: Vec<(u16, bool, Vec<u8>)>| {
    let dir = std::env::temp_dir().join(format!("hmg-fuzz-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut messages = std::collections::HashSet::new();
    for (seq, is_message, content) in files.iter().take(32) {
        // Message files are named by a sequence number; anything else must be left alone.
        let name = if *is_message {
            messages.insert(*seq);
            format!("{seq:020}.msg")
        } else {
            format!("{seq}.other")
        };
        std::fs::write(dir.join(name), content).unwrap();
    }
    let spool = Spool::open(&dir, 64).unwrap();
    assert_eq!(spool.len(), messages.len());
    let mut delivered = 0;
    for _ in 0..=messages.len() {
        let batch = spool.oldest(8, Duration::ZERO);
        if batch.is_empty() && spool.is_empty() {
            break;
        }
        for (seq, payload) in batch {
            let record: serde_json::Value =
                serde_json::from_slice(&payload).expect("only records are handed out");
            assert!(record.is_object());
            spool.remove(seq);
            delivered += 1;
        }
    }
    assert!(spool.is_empty(), "the queue drains");
    assert_eq!(
        delivered + spool.set_aside_count() as usize,
        messages.len(),
        "each message file is delivered or set aside"
    );
    let _ = std::fs::remove_dir_all(&dir);
});
