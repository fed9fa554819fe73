// SPDX-License-Identifier: MIT OR Apache-2.0
//! Output buffers that come back: an engine takes a buffer per output per frame from its pool, and
//! whoever keeps the outputs longest (a GStreamer buffer's meta, several elements downstream) gives
//! it back by dropping a [`Recycled`]. Once warm, no output buffer is allocated or zeroed per frame.

use std::sync::{Arc, Mutex, Weak};

/// Free buffers of one element type, by size.
#[derive(Debug)]
struct Shelf<T> {
    free: Mutex<Vec<Vec<T>>>,
    /// Buffers kept at most; more coming back are freed (a burst downstream passed).
    keep: usize,
}

impl<T: Copy + Default> Shelf<T> {
    fn new(keep: usize) -> Self {
        Self {
            free: Mutex::new(Vec::with_capacity(keep)),
            keep,
        }
    }

    /// A buffer of `len` elements: a returned one of that length, else a new zeroed one (its
    /// contents are whatever the last frame left: callers overwrite all of it).
    fn take(&self, len: usize) -> Vec<T> {
        let mut free = self.free.lock().unwrap();
        match free.iter().rposition(|v| v.len() == len) {
            Some(i) => free.swap_remove(i),
            None => vec![T::default(); len],
        }
    }

    fn give_back(&self, v: Vec<T>) {
        let mut free = self.free.lock().unwrap();
        if free.len() < self.keep {
            free.push(v);
        }
    }
}

#[derive(Debug)]
struct Shelves {
    bytes: Shelf<u8>,
    floats: Shelf<f32>,
}

/// The pool of an engine's output buffers (bytes for quantized outputs, floats for on-device NMS).
#[derive(Debug, Clone)]
pub struct OutputPool {
    shelves: Arc<Shelves>,
}

impl OutputPool {
    /// A pool keeping up to `keep` free buffers of each element type: the frames in flight times
    /// the outputs per frame, plus the frames downstream holds.
    pub fn new(keep: usize) -> Self {
        Self {
            shelves: Arc::new(Shelves {
                bytes: Shelf::new(keep),
                floats: Shelf::new(keep),
            }),
        }
    }

    /// A byte buffer of `len` bytes.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        self.shelves.bytes.take(len)
    }

    /// A float buffer of `len` floats.
    pub fn floats(&self, len: usize) -> Vec<f32> {
        self.shelves.floats.take(len)
    }

    /// `v` wrapped so that dropping it hands it back to this pool (if the pool still exists).
    pub fn recycle_bytes(&self, v: Vec<u8>) -> Recycled {
        self.recycled(Data::Bytes(v))
    }

    /// As [`recycle_bytes`](Self::recycle_bytes), for floats.
    pub fn recycle_floats(&self, v: Vec<f32>) -> Recycled {
        self.recycled(Data::Floats(v))
    }

    fn recycled(&self, data: Data) -> Recycled {
        Recycled {
            data,
            home: Arc::downgrade(&self.shelves),
        }
    }
}

#[derive(Debug)]
enum Data {
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
}

/// A buffer that goes back to its pool when dropped; its bytes (floats in native endianness).
#[derive(Debug)]
pub struct Recycled {
    data: Data,
    home: Weak<Shelves>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        match &self.data {
            Data::Bytes(v) => v,
            // SAFETY: any f32 is 4 initialized bytes, and u8 needs no alignment.
            Data::Floats(v) => unsafe {
                std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(&v[..]))
            },
        }
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let Some(home) = self.home.upgrade() else {
            return;
        };
        match &mut self.data {
            Data::Bytes(v) => home.bytes.give_back(std::mem::take(v)),
            Data::Floats(v) => home.floats.give_back(std::mem::take(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_are_handed_out_again() {
        let pool = OutputPool::new(4);
        let a = pool.bytes(100);
        let address = a.as_ptr();
        drop(pool.recycle_bytes(a));
        // The same allocation, for the same size only.
        let again = pool.bytes(100);
        assert_eq!(again.as_ptr(), address);
        drop(pool.recycle_bytes(again));
        assert_eq!(pool.bytes(64).len(), 64);
        let f = vec![1.5f32, -2.0];
        let address = f.as_ptr();
        let r = pool.recycle_floats(f);
        let bytes: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(r.as_ref(), &bytes[..]);
        drop(r);
        let again = pool.floats(2);
        assert_eq!(again.as_ptr(), address);
    }

    #[test]
    fn it_keeps_no_more_than_asked_and_outlived_buffers_are_freed() {
        let pool = OutputPool::new(2);
        let held: Vec<_> = (0..5).map(|_| pool.recycle_bytes(pool.bytes(10))).collect();
        drop(held);
        assert_eq!(pool.shelves.bytes.free.lock().unwrap().len(), 2);
        let late = pool.recycle_bytes(pool.bytes(10));
        drop(pool);
        drop(late); // its pool is gone: simply freed
    }
}
