// SPDX-License-Identifier: MIT OR Apache-2.0
//! A bounded on-disk queue of messages: one file per message, named by its sequence number, so
//! nothing is lost when the broker is away or the process restarts, and the sender always takes
//! the oldest. When it is full the oldest message is dropped and counted. A message that can
//! never be delivered (not a record detmqtt wrote: empty, damaged or foreign; or refused by the
//! broker again and again) is moved aside into `undeliverable/` and counted, never retried forever.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Message files end with this; anything else in the folder is left alone.
const SUFFIX: &str = ".msg";

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_messages: usize,
    inner: Mutex<Inner>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Inner {
    /// Sequence numbers on disk, oldest first.
    queued: VecDeque<u64>,
    next: u64,
    dropped: u64,
    set_aside: u64,
    closed: Option<std::time::Instant>,
}

impl Spool {
    /// Opens (creating) the spool folder `dir`; messages a previous run left are kept, oldest
    /// first.
    pub fn open(dir: &Path, max_messages: usize) -> Result<Self, String> {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create spool folder '{}': {e}", dir.display()))?;
        let entries: Vec<fs::DirEntry> = fs::read_dir(dir)
            .map_err(|e| format!("cannot read spool folder '{}': {e}", dir.display()))?
            .flatten()
            .collect();
        // Half-written messages of a run that crashed: never published.
        for e in &entries {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".part") {
                let _ = fs::remove_file(e.path());
            }
        }
        let mut queued: Vec<u64> = entries
            .iter()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(SUFFIX)?.parse().ok())
            .collect();
        queued.sort_unstable();
        let next = queued.last().map_or(0, |n| n + 1);
        let spool = Self {
            dir: dir.to_path_buf(),
            max_messages: max_messages.max(1),
            inner: Mutex::new(Inner {
                queued: queued.into(),
                next,
                ..Default::default()
            }),
            changed: Condvar::new(),
        };
        spool.trim(&mut spool.inner.lock().unwrap());
        Ok(spool)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}{SUFFIX}"))
    }

    /// Drops the oldest messages beyond the limit.
    fn trim(&self, inner: &mut Inner) {
        while inner.queued.len() > self.max_messages {
            if let Some(old) = inner.queued.pop_front() {
                let _ = fs::remove_file(self.path(old));
                inner.dropped += 1;
            }
        }
    }

    /// Appends one message (all or nothing: a crash never leaves half a message).
    pub fn push(&self, payload: &[u8]) -> Result<(), String> {
        let mut inner = self.inner.lock().unwrap();
        let seq = inner.next;
        let path = self.path(seq);
        let written = hmg_detect::atomic::write_atomic_unsynced(&path, |f| f.write_all(payload));
        if let Err(e) = written {
            return Err(format!(
                "cannot write to the spool '{}': {e}",
                self.dir.display()
            ));
        }
        inner.next += 1;
        inner.queued.push_back(seq);
        self.trim(&mut inner);
        self.changed.notify_all();
        Ok(())
    }

    /// Up to `n` of the oldest messages (sequence number, payload), waiting up to `wait` for
    /// one to arrive; empty when closed or nothing came.
    pub fn oldest(&self, n: usize, wait: Duration) -> Vec<(u64, Vec<u8>)> {
        let mut inner = self.inner.lock().unwrap();
        if inner.queued.is_empty() && inner.closed.is_none() {
            inner = self.changed.wait_timeout(inner, wait).unwrap().0;
        }
        let seqs: Vec<u64> = inner.queued.iter().take(n).copied().collect();
        drop(inner);
        self.read_all(seqs)
    }

    /// The payloads of `seqs` that are records detmqtt wrote (a JSON object); any other file is
    /// set aside, not published.
    fn read_all(&self, seqs: Vec<u64>) -> Vec<(u64, Vec<u8>)> {
        seqs.into_iter()
            .filter_map(|seq| {
                let payload = fs::read(self.path(seq)).ok()?;
                let record = serde_json::from_slice::<serde_json::Value>(&payload)
                    .is_ok_and(|v| v.is_object());
                if record {
                    Some((seq, payload))
                } else {
                    self.set_aside(seq);
                    None
                }
            })
            .collect()
    }

    /// Moves message `seq` into `undeliverable/` (kept for a person to look at) and counts it.
    pub fn set_aside(&self, seq: u64) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(i) = inner.queued.iter().position(|&s| s == seq) {
            inner.queued.remove(i);
            inner.set_aside += 1;
            let aside = self.dir.join("undeliverable");
            let moved = fs::create_dir_all(&aside).and_then(|()| {
                fs::rename(self.path(seq), aside.join(format!("{seq:020}{SUFFIX}")))
            });
            if moved.is_err() {
                let _ = fs::remove_file(self.path(seq));
            }
        }
    }

    /// Messages set aside as undeliverable.
    pub fn set_aside_count(&self) -> u64 {
        self.inner.lock().unwrap().set_aside
    }

    /// The messages after `after` (exclusive), up to `n`, without waiting.
    pub fn after(&self, after: u64, n: usize) -> Vec<(u64, Vec<u8>)> {
        let inner = self.inner.lock().unwrap();
        let seqs: Vec<u64> = inner
            .queued
            .iter()
            .filter(|&&s| s > after)
            .take(n)
            .copied()
            .collect();
        drop(inner);
        self.read_all(seqs)
    }

    /// Removes message `seq` (delivered).
    pub fn remove(&self, seq: u64) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(i) = inner.queued.iter().position(|&s| s == seq) {
            inner.queued.remove(i);
            let _ = fs::remove_file(self.path(seq));
        }
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().queued.len()
    }

    /// Messages dropped because the spool was full.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().unwrap().dropped
    }

    /// Wakes a waiting sender for good (the element stops).
    pub fn close(&self) {
        self.inner
            .lock()
            .unwrap()
            .closed
            .get_or_insert_with(std::time::Instant::now);
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.lock().unwrap().closed.is_some()
    }

    /// How long ago the spool was closed.
    pub fn closed_for(&self) -> Option<Duration> {
        self.inner.lock().unwrap().closed.map(|t| t.elapsed())
    }

    /// Sleeps `wait`, or less when the spool is closed meanwhile.
    pub fn wait_closed(&self, wait: Duration) {
        let inner = self.inner.lock().unwrap();
        if inner.closed.is_none() {
            let _ = self
                .changed
                .wait_timeout_while(inner, wait, |i| i.closed.is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hmg-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    /// A record as detmqtt spools them (the spool sets aside anything else).
    fn record(name: &str) -> Vec<u8> {
        format!("{{\"m\":\"{name}\"}}").into_bytes()
    }

    fn name_of(payload: Vec<u8>) -> String {
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        v["m"].as_str().unwrap().to_string()
    }

    #[test]
    fn keeps_order_across_reopening_and_drops_the_oldest_when_full() {
        let d = dir("order");
        let spool = Spool::open(&d, 3).unwrap();
        for i in 0..5 {
            spool.push(&record(&format!("m{i}"))).unwrap();
        }
        assert_eq!((spool.len(), spool.dropped()), (3, 2));
        drop(spool);
        let spool = Spool::open(&d, 3).unwrap();
        let got: Vec<String> = spool
            .oldest(10, Duration::ZERO)
            .into_iter()
            .map(|(_, p)| name_of(p))
            .collect();
        assert_eq!(got, ["m2", "m3", "m4"]);
        let first = spool.oldest(1, Duration::ZERO)[0].0;
        spool.remove(first);
        spool.push(&record("m5")).unwrap();
        let after: Vec<u64> = spool.after(first, 10).into_iter().map(|(s, _)| s).collect();
        assert_eq!(after.len(), 3);
        assert!(after.windows(2).all(|w| w[0] < w[1]));
        let _ = fs::remove_dir_all(&d);
    }

    #[test]
    fn files_that_are_not_records_are_set_aside_and_counted() {
        let d = dir("aside");
        let spool = Spool::open(&d, 10).unwrap();
        spool.push(&record("good")).unwrap();
        spool.push(b"").unwrap();
        spool.push(b"\xff\xfe not json").unwrap();
        spool.push(b"[1, 2]").unwrap();
        spool.push(&record("also good")).unwrap();
        let got: Vec<String> = spool
            .oldest(10, Duration::ZERO)
            .into_iter()
            .map(|(_, p)| name_of(p))
            .collect();
        assert_eq!(got, ["good", "also good"]);
        assert_eq!(spool.set_aside_count(), 3);
        assert_eq!(fs::read_dir(d.join("undeliverable")).unwrap().count(), 3);
        let _ = fs::remove_dir_all(&d);
    }
}
