//! The teacher problem (METHOD §10, `teacher:d:w:L`): inputs uniform on
//! `[−1, 1]^d`, labelled by which side of its median a random ReLU network
//! (the teacher, `L` hidden layers of width `w`) puts them. It is realisable
//! in any dimension, both classes are equally likely, and a deeper teacher
//! draws a more folded boundary.

use rand::RngExt;
use rand_distr::StandardNormal;

use crate::seed::{derive_seed, host_rng};

use super::shipped::Table;

/// Points the teacher's median is taken over: enough for its two classes
/// to be balanced to about 1%.
const MEDIAN_POINTS: usize = 8192;

/// A random ReLU network and the threshold (its median output over
/// uniform inputs) that splits its inputs into two classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Teacher {
    /// Input dimension `d`.
    pub inputs: usize,
    /// Hidden width `w`.
    pub width: usize,
    /// Hidden layers `L`.
    pub depth: usize,
    /// Each layer's (weights `[fan_out × fan_in]` row-major, biases).
    layers: Vec<(Vec<f64>, Vec<f64>)>,
    threshold: f64,
}

impl Teacher {
    /// The width when `teacher:d` names none.
    pub const DEFAULT_WIDTH: usize = 32;
    /// The depth when `teacher:d` names none.
    pub const DEFAULT_DEPTH: usize = 3;

    /// Bytes the host holds while drawing a teacher and its median: its
    /// weights and the reference points, in `f64`.
    pub fn host_bytes(inputs: usize, width: usize, depth: usize) -> u128 {
        let weights = (inputs as u128 + 1) * width as u128
            + depth.saturating_sub(1) as u128 * (width as u128 + 1) * width as u128
            + width as u128
            + 1;
        8 * (weights + (MEDIAN_POINTS * (inputs + 1)) as u128)
    }

    /// The teacher drawn from `seed`: He-normal weights (variance 2/fan-in,
    /// so the signal neither dies nor explodes with depth), biases of
    /// standard deviation 0.1 so the boundary need not pass through the
    /// origin, and a linear read-out of variance 1/fan-in.
    ///
    /// Refused, with the reason, when `d` or `w` is 0, or when the drawn
    /// teacher is flat on more than 1% of the cube (dead units): its median
    /// would not split the inputs into two equal classes.
    pub fn new(inputs: usize, width: usize, depth: usize, seed: u64) -> Result<Self, String> {
        if inputs == 0 || width == 0 {
            return Err(format!(
                "a teacher needs inputs and width of 1 or more, not d = {inputs}, w = {width}"
            ));
        }
        let mut rng = host_rng(derive_seed(seed, &[b"teacher"]));
        let mut normal = |std: f64| -> f64 { std * rng.sample::<f64, _>(StandardNormal) };
        let mut layers = Vec::with_capacity(depth + 1);
        for layer in 0..=depth {
            let fan_in = if layer == 0 { inputs } else { width };
            let (fan_out, std, bias_std) = if layer == depth {
                (1, (1.0 / fan_in as f64).sqrt(), 0.0)
            } else {
                (width, (2.0 / fan_in as f64).sqrt(), 0.1)
            };
            let weights = (0..fan_out * fan_in).map(|_| normal(std)).collect();
            let biases = (0..fan_out).map(|_| normal(bias_std)).collect();
            layers.push((weights, biases));
        }
        let mut teacher = Self {
            inputs,
            width,
            depth,
            layers,
            threshold: 0.0,
        };
        let reference = teacher.uniform_points(MEDIAN_POINTS, derive_seed(seed, &[b"median"]));
        let mut outputs: Vec<f64> = reference
            .chunks_exact(inputs.max(1))
            .map(|x| teacher.output(x))
            .collect();
        outputs.sort_by(f64::total_cmp);
        teacher.threshold = outputs[outputs.len() / 2];
        let ties = outputs.iter().filter(|&&o| o == teacher.threshold).count();
        if ties > MEDIAN_POINTS / 100 {
            return Err(format!(
                "the teacher of seed {seed} (d = {inputs}, w = {width}, L = {depth}) is constant on {:.0}% of the cube, so its classes cannot be balanced: use a wider or shallower teacher",
                100.0 * ties as f64 / MEDIAN_POINTS as f64
            ));
        }
        Ok(teacher)
    }

    /// The teacher's output at `x`, before the threshold.
    pub fn output(&self, x: &[f64]) -> f64 {
        let mut signal = x.to_vec();
        for (index, (weights, biases)) in self.layers.iter().enumerate() {
            let fan_in = signal.len();
            let hidden = index + 1 < self.layers.len();
            signal = biases
                .iter()
                .enumerate()
                .map(|(unit, bias)| {
                    let row = &weights[unit * fan_in..(unit + 1) * fan_in];
                    let sum = bias + row.iter().zip(&signal).map(|(w, s)| w * s).sum::<f64>();
                    if hidden {
                        sum.max(0.0)
                    } else {
                        sum
                    }
                })
                .collect();
        }
        signal[0]
    }

    /// The class of `x`: 1 above the median output, else 0.
    pub fn label(&self, x: &[f64]) -> usize {
        usize::from(self.output(x) > self.threshold)
    }

    /// `size` points uniform on `[−1, 1]^d`, `[size, d]` row-major.
    fn uniform_points(&self, size: usize, seed: u64) -> Vec<f64> {
        let mut rng = host_rng(seed);
        (0..size * self.inputs)
            .map(|_| rng.random_range(-1.0..=1.0))
            .collect()
    }

    /// `size` labelled points drawn with `seed` (a training or test set).
    pub fn table(&self, size: usize, seed: u64) -> Table {
        // Labelled as stored (f32), so a point near the boundary keeps the
        // label of the value a network sees.
        let points: Vec<f32> = self
            .uniform_points(size, derive_seed(seed, &[b"teacher points"]))
            .into_iter()
            .map(|x| x as f32)
            .collect();
        let labels = points
            .chunks_exact(self.inputs.max(1))
            .map(|x| self.label(&x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()))
            .collect();
        Table {
            inputs: self.inputs,
            classes: 2,
            labels,
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classes_are_balanced_and_the_draw_is_seeded() {
        for (inputs, depth) in [(2, 1), (8, 3), (16, 6)] {
            let teacher = Teacher::new(inputs, 32, depth, 5).unwrap();
            let table = teacher.table(4000, 1);
            assert_eq!((table.len(), table.inputs), (4000, inputs));
            assert!(table.points.iter().all(|x| x.abs() <= 1.0));
            let share = table.class_counts()[1] as f64 / 4000.0;
            // Binomial s.e. at 4000 points is 0.008; the median of 8192
            // reference points adds about as much.
            assert!((share - 0.5).abs() < 0.04, "d {inputs}, L {depth}: {share}");
            assert_eq!(table, teacher.table(4000, 1));
            assert_ne!(table.labels, teacher.table(4000, 2).labels);
            assert_ne!(teacher, Teacher::new(inputs, 32, depth, 6).unwrap());
        }
    }

    /// How often the label changes between neighbouring points of random
    /// segments across the cube: a measure of the boundary's folding.
    fn crossings(teacher: &Teacher, seed: u64) -> f64 {
        let mut rng = host_rng(seed);
        let (segments, steps) = (200, 100);
        let mut changes = 0;
        for _ in 0..segments {
            let ends: Vec<f64> = (0..2 * teacher.inputs)
                .map(|_| rng.random_range(-1.0..=1.0))
                .collect();
            let (start, end) = ends.split_at(teacher.inputs);
            let at = |t: f64| -> Vec<f64> {
                start
                    .iter()
                    .zip(end)
                    .map(|(a, b)| a + t * (b - a))
                    .collect()
            };
            let labels: Vec<usize> = (0..=steps)
                .map(|k| teacher.label(&at(k as f64 / steps as f64)))
                .collect();
            changes += labels.windows(2).filter(|w| w[0] != w[1]).count();
        }
        changes as f64 / segments as f64
    }

    #[test]
    fn a_teacher_that_cannot_balance_its_classes_is_refused() {
        assert!(Teacher::new(0, 32, 3, 0).unwrap_err().contains("d = 0"));
        assert!(Teacher::new(8, 0, 3, 0).unwrap_err().contains("w = 0"));
        // Width 1 and depth 12: one dead unit anywhere makes the output
        // constant there, so some seed is flat on much of the cube.
        let flat = (0..20).find_map(|seed| Teacher::new(8, 1, 12, seed).err());
        let error = flat.expect("a narrow deep teacher is flat somewhere");
        assert!(error.contains("constant on"), "{error}");
    }

    #[test]
    fn a_deeper_teacher_draws_a_more_folded_boundary() {
        // Averaged over five teachers each, on the same segments.
        let folding = |depth: usize| -> f64 {
            (0..5)
                .map(|seed| crossings(&Teacher::new(8, 32, depth, seed).unwrap(), 99))
                .sum::<f64>()
                / 5.0
        };
        let (shallow, deep) = (folding(1), folding(8));
        assert!(deep > 1.5 * shallow, "depth 1: {shallow}, depth 8: {deep}");
    }
}
