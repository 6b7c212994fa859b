//! A tiny deterministic generator (SplitMix64) for seeded scripts: the seed
//! printed by a failing test replays the same script.

/// SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The seed to use: `$VERIFY_SEED` if set, else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("VERIFY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
