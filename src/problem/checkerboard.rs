//! The checkerboard on `[-1, 1]²` (METHOD §4).

use serde::{Deserialize, Serialize};

/// The checkerboard on `[-1, 1]²` with `cells × cells` cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkerboard {
    /// Cells per side `c` (METHOD §4; default 8).
    pub cells: usize,
}

/// METHOD §4's board: 8 × 8 cells.
impl Default for Checkerboard {
    fn default() -> Self {
        Self { cells: 8 }
    }
}

impl Checkerboard {
    /// `(⌊(x₁+1)c/2⌋ + ⌊(x₂+1)c/2⌋) mod 2`, indices clamped to `c − 1`.
    pub fn label(&self, x1: f32, x2: f32) -> f32 {
        let cell = |x: f32| {
            (((x as f64 + 1.0) * self.cells as f64 / 2.0)
                .floor()
                .max(0.0) as usize)
                .min(self.cells - 1)
        };
        ((cell(x1) + cell(x2)) % 2) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkerboard_labels_alternate_and_clamp_the_right_edge() {
        let board = Checkerboard { cells: 2 };
        assert_eq!(board.label(-0.5, -0.5), 0.0);
        assert_eq!(board.label(0.5, -0.5), 1.0);
        assert_eq!(board.label(0.5, 0.5), 0.0);
        assert_eq!(board.label(1.0, -1.0), 1.0);
        assert_eq!(board.label(1.0, 1.0), 0.0);
    }
}
