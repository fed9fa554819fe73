// SPDX-License-Identifier: MIT OR Apache-2.0
//! Latest-value messages, retained by the broker: counts per line and zone, and Home Assistant's
//! discovery configs. Unlike detections they are not queued: only the newest value of a topic
//! matters, so the spool is not the place for them. The sender publishes what changed, and all of
//! them again after each (re)connection, so nothing acknowledged-but-lost stays stale.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug)]
struct Entry {
    payload: Vec<u8>,
    sent: bool,
}

/// Topic → latest payload.
#[derive(Debug, Default)]
pub struct Retained {
    entries: Mutex<BTreeMap<String, Entry>>,
}

impl Retained {
    /// Sets `topic`'s value; it goes out again only when it changed.
    pub fn set(&self, topic: String, payload: Vec<u8>) {
        let mut entries = self.entries.lock().unwrap();
        match entries.get_mut(&topic) {
            Some(e) if e.payload == payload => {}
            Some(e) => {
                e.payload = payload;
                e.sent = false;
            }
            None => {
                entries.insert(
                    topic,
                    Entry {
                        payload,
                        sent: false,
                    },
                );
            }
        }
    }

    /// Up to `n` values not sent yet, now counted as sent.
    pub fn take_unsent(&self, n: usize) -> Vec<(String, Vec<u8>)> {
        let mut entries = self.entries.lock().unwrap();
        entries
            .iter_mut()
            .filter(|(_, e)| !e.sent)
            .take(n)
            .map(|(topic, e)| {
                e.sent = true;
                (topic.clone(), e.payload.clone())
            })
            .collect()
    }

    /// A new connection: everything goes out again.
    pub fn mark_all_unsent(&self) {
        for e in self.entries.lock().unwrap().values_mut() {
            e.sent = false;
        }
    }

    /// Whether some value waits to go out.
    pub fn pending(&self) -> bool {
        self.entries.lock().unwrap().values().any(|e| !e.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_go_out_until_a_reconnection() {
        let r = Retained::default();
        r.set("a".into(), b"1".to_vec());
        r.set("b".into(), b"2".to_vec());
        assert_eq!(r.take_unsent(10).len(), 2);
        assert!(!r.pending());
        r.set("a".into(), b"1".to_vec());
        assert!(!r.pending());
        r.set("a".into(), b"3".to_vec());
        assert_eq!(r.take_unsent(10), [("a".to_string(), b"3".to_vec())]);
        r.mark_all_unsent();
        assert_eq!(r.take_unsent(1).len(), 1);
        assert!(r.pending());
    }
}
