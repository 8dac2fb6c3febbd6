//! The seeded random choices of a run.

use std::time::Duration;

/// xorshift64*: the random choices of a run (which replica, which state, when); the seed is in
/// the report and `KEYWARD_CHAOS_SEED` replays the choices (not the timings).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded(salt: u64) -> (Self, u64) {
        let seed = std::env::var("KEYWARD_CHAOS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| u64::from_str_radix(&crate::support::random_hex(8), 16).unwrap());
        (Self((seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1), seed)
    }

    pub fn fork(&mut self, salt: u64) -> Self {
        Self((self.next() ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo + 1))
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
