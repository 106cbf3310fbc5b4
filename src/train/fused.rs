//! Adam over a dense ensemble's host vectors (`nn/stack.rs`), without
//! autodiff, on the CPU.
//!
//! Burn's `Adam` runs about ten tensor ops per parameter; here each
//! parameter is updated in one pass, with Burn's formula in Burn's order,
//! so that every step gives Burn's bits for the same gradients. With the
//! stack's passes this is the fused loop of `trainer.rs`, tested against
//! Burn's autodiff there.

use crate::nn::stack::{DenseStack, Workspace};

/// Adam over a [`DenseStack`]'s parameters: Burn's `Adam` (burn-optim
/// 0.21, `AdaptiveMomentum`) in one pass per parameter, each operation in
/// Burn's order so that every step gives Burn's bits for the same gradient.
pub(crate) struct FusedAdam {
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    learning_rate: f32,
    /// Steps taken.
    time: i32,
    first_moments: Vec<Vec<f32>>,
    second_moments: Vec<Vec<f32>>,
}

impl FusedAdam {
    /// Adam with moment decays `beta1`, `beta2` and `epsilon` over the
    /// parameters of `stack`, with no step taken yet.
    pub(crate) fn new(
        [beta1, beta2, epsilon]: [f64; 3],
        learning_rate: f64,
        stack: &DenseStack,
    ) -> Self {
        let zeros: Vec<Vec<f32>> = stack.params().iter().map(|p| vec![0.0; p.len()]).collect();
        Self {
            beta1: beta1 as f32,
            beta2: beta2 as f32,
            epsilon: epsilon as f32,
            learning_rate: learning_rate as f32,
            time: 0,
            first_moments: zeros.clone(),
            second_moments: zeros,
        }
    }

    /// One step on every parameter, from each member's gradients (in
    /// `works[member]`, as [`DenseStack::backward`] leaves them).
    pub(crate) fn step(&mut self, stack: &mut DenseStack, works: &[Workspace]) {
        self.time += 1;
        let (beta1, beta2) = (self.beta1, self.beta2);
        let bias_correction2_sqrt = (1.0 - beta2.powi(self.time)).sqrt();
        let combined = bias_correction2_sqrt / (1.0 - beta1.powi(self.time));
        let epsilon = self.epsilon * bias_correction2_sqrt;
        let learning_rate = self.learning_rate;
        let moments = self.first_moments.iter_mut().zip(&mut self.second_moments);
        for (p, (values, (first, second))) in stack.params_mut().iter_mut().zip(moments).enumerate()
        {
            let per_member = values.len() / works.len();
            for (member, work) in works.iter().enumerate() {
                let range = member * per_member..(member + 1) * per_member;
                let entries = values[range.clone()]
                    .iter_mut()
                    .zip(&mut first[range.clone()])
                    .zip(&mut second[range])
                    .zip(&work.param_grads[p]);
                for (((value, m), v), &g) in entries {
                    *m = *m * beta1 + g * (1.0 - beta1);
                    *v = *v * beta2 + g * g * (1.0 - beta2);
                    let update = *m * combined / (v.sqrt() + epsilon);
                    *value -= update * learning_rate;
                }
            }
        }
    }
}
