// SPDX-License-Identifier: MIT OR Apache-2.0
//! The HEF header parser on many corrupted and truncated HEFs (a deterministic cousin of the
//! fuzz target in fuzz/): every input gives Ok or a clean error, never a panic.

mod common;

use hmg_detect::hef;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn mutated_hefs_never_panic() {
    let seeds: Vec<Vec<u8>> = ["nudenet320.hef", "nudenet320-hailo8l.hef"]
        .iter()
        .map(|f| std::fs::read(common::hailo_fixtures().join(f)).unwrap())
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ok, mut err) = (0, 0);
    for i in 0..200_000 {
        let mut data = seeds[i % seeds.len()].clone();
        match rng.next() % 4 {
            0 => {
                let at = rng.next() as usize % data.len();
                data[at] = rng.next() as u8;
            }
            1 => data.truncate(rng.next() as usize % (data.len() + 1)),
            2 => {
                let extra = (rng.next() % 64) as usize;
                data.extend((0..extra).map(|_| rng.next() as u8));
            }
            _ => {
                for _ in 0..4 {
                    let at = rng.next() as usize % data.len();
                    data[at] ^= 1 << (rng.next() % 8);
                }
            }
        }
        match hef::parse(&data) {
            Ok(h) => {
                assert!(h.declared_size <= data.len() as u64);
                ok += 1;
            }
            Err(_) => err += 1,
        }
    }
    assert!(
        ok > 1000 && err > 1000,
        "mutations should both keep and break files: {ok} ok, {err} errors"
    );
}
