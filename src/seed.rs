//! Seeding: every network and data set of a run derives its seed from the
//! run seed and labels, so results are reproducible and independent of the
//! order in which work is done.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// Mixes a 64-bit value (SplitMix64's finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable seed from a run seed and a list of labels (FNV-1a over the
/// labels, then mixed). Stable across platforms and crate versions, unlike
/// `std`'s hasher.
pub fn derive_seed(run_seed: u64, labels: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ mix(run_seed);
    for label in labels {
        for &byte in label.iter().chain([0xff_u8].iter()) {
            hash ^= byte as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(hash)
}

/// The seed of one network: from the run seed, its activation, its depth and
/// its seed index, so adding a depth or an activation to a sweep leaves the
/// other networks as they were.
pub fn network_seed(run_seed: u64, activation: &str, depth: usize, seed_index: usize) -> u64 {
    derive_seed(
        run_seed,
        &[
            b"network",
            activation.as_bytes(),
            &(depth as u64).to_le_bytes(),
            &(seed_index as u64).to_le_bytes(),
        ],
    )
}

/// The host random number generator all weights and data are drawn from.
pub fn host_rng(seed: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_seeds_differ_by_every_label() {
        let base = network_seed(0, "relu", 8, 0);
        assert_eq!(base, network_seed(0, "relu", 8, 0));
        for other in [
            network_seed(1, "relu", 8, 0),
            network_seed(0, "abs", 8, 0),
            network_seed(0, "relu", 9, 0),
            network_seed(0, "relu", 8, 1),
        ] {
            assert_ne!(base, other);
        }
    }
}
