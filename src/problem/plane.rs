//! Planes through the data (METHOD §10): for inputs of more than two
//! dimensions the landscape is drawn on the plane through three training
//! points, as Somepalli et al. 2022 draw decision regions on the plane
//! spanned by three samples ("Can Neural Nets Learn the Same Model Twice?
//! Investigating Reproducibility and Double Descent from the Decision
//! Boundary Perspective", CVPR 2022, arXiv:2203.08124; read: the abstract
//! and introduction).

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::RngExt;

use super::data::{landscape_grid, Dataset, INPUT_DIM};
use crate::seed::{derive_seed, host_rng};

/// The plane through three points `a, b, c` of `R^d`: centred on their
/// centroid `m`, spanned by the orthonormal `e₁, e₂` (Gram–Schmidt on
/// `b − a`, `c − a`), scaled by `r`, the largest distance of the three
/// from `m`, so all three lie in the square `m + r(u e₁ + v e₂)`,
/// `u, v ∈ [−1, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPlane {
    /// The centroid `m`.
    pub centre: Vec<f64>,
    /// The first direction `e₁`, along `b − a`.
    pub first: Vec<f64>,
    /// The second direction `e₂`, orthogonal to `e₁`.
    pub second: Vec<f64>,
    /// The half-width `r` of the square.
    pub radius: f64,
    /// The plane coordinates `(u, v)` of the three points it was drawn
    /// through, in the order given.
    pub anchors: [[f64; 2]; 3],
}

/// Below this, relative to the points' spread, three points are taken as
/// collinear: they span no plane.
const COLLINEAR: f64 = 1e-9;

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn norm(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

impl DataPlane {
    /// The plane through `a, b, c`; `None` when they are (nearly) collinear.
    pub fn through(a: &[f64], b: &[f64], c: &[f64]) -> Option<Self> {
        let minus =
            |x: &[f64], y: &[f64]| -> Vec<f64> { x.iter().zip(y).map(|(p, q)| p - q).collect() };
        let (ab, ac) = (minus(b, a), minus(c, a));
        let scale = norm(&ab).max(norm(&ac));
        let first: Vec<f64> = ab
            .iter()
            .map(|v| v / norm(&ab).max(f64::MIN_POSITIVE))
            .collect();
        let along = dot(&ac, &first);
        let rest: Vec<f64> = ac.iter().zip(&first).map(|(v, e)| v - along * e).collect();
        let (length, height) = (norm(&ab), norm(&rest));
        let nan = [scale, length, height].iter().any(|v| v.is_nan());
        if nan || length <= COLLINEAR * scale || height <= COLLINEAR * scale {
            return None;
        }
        let second: Vec<f64> = rest.iter().map(|v| v / norm(&rest)).collect();
        let centre: Vec<f64> = (0..a.len()).map(|i| (a[i] + b[i] + c[i]) / 3.0).collect();
        let radius = [a, b, c]
            .iter()
            .map(|p| norm(&minus(p, &centre)))
            .fold(0.0, f64::max);
        let mut plane = Self {
            centre,
            first,
            second,
            radius,
            anchors: [[0.0; 2]; 3],
        };
        let anchors = [a, b, c].map(|p| {
            let (u, v) = plane.coordinates(p);
            [u, v]
        });
        plane.anchors = anchors;
        Some(plane)
    }

    /// The point at plane coordinates `(u, v)`: `m + r(u e₁ + v e₂)`.
    pub fn point(&self, u: f64, v: f64) -> Vec<f64> {
        (0..self.centre.len())
            .map(|i| self.centre[i] + self.radius * (u * self.first[i] + v * self.second[i]))
            .collect()
    }

    /// The plane coordinates `(u, v)` of a point's projection onto the plane.
    pub fn coordinates(&self, x: &[f64]) -> (f64, f64) {
        let offset: Vec<f64> = x.iter().zip(&self.centre).map(|(p, m)| p - m).collect();
        (
            dot(&offset, &self.first) / self.radius,
            dot(&offset, &self.second) / self.radius,
        )
    }

    /// §3's `G × G` grid laid on the plane, as `[G·G, d]` row-major in the
    /// same order as the 2-D landscape grid (x along e₁ fastest).
    pub fn grid(&self, size: usize) -> Vec<f32> {
        let coordinate = |k: usize| -1.0 + 2.0 * k as f64 / (size - 1) as f64;
        let mut points = Vec::with_capacity(size * size * self.centre.len());
        for i in 0..size {
            for j in 0..size {
                points.extend(
                    self.point(coordinate(j), coordinate(i))
                        .into_iter()
                        .map(|x| x as f32),
                );
            }
        }
        points
    }
}

/// `count` planes through three distinct training points each, drawn with
/// `seed`; a draw of collinear points is drawn again. Fewer come back when
/// the data span no plane.
pub fn data_planes(train: &Dataset, count: usize, seed: u64) -> Vec<DataPlane> {
    let mut rng = host_rng(derive_seed(seed, &[b"planes"]));
    let row = |r: usize| -> Vec<f64> {
        train.points[r * train.inputs..(r + 1) * train.inputs]
            .iter()
            .map(|&x| f64::from(x))
            .collect()
    };
    let mut planes = Vec::with_capacity(count);
    // Bounded: a data set whose points all lie on a line spans no plane.
    let mut draws = 0;
    while planes.len() < count && draws < 1000 * count.max(1) && train.len() >= 3 {
        draws += 1;
        let picks: Vec<usize> = (0..3).map(|_| rng.random_range(0..train.len())).collect();
        if picks[0] == picks[1] || picks[0] == picks[2] || picks[1] == picks[2] {
            continue;
        }
        if let Some(plane) = DataPlane::through(&row(picks[0]), &row(picks[1]), &row(picks[2])) {
            planes.push(plane);
        }
    }
    planes
}

/// Where a network's landscapes are drawn: the input square (METHOD §3)
/// for two inputs, else `S` planes through the data (METHOD §10), each
/// with §3's `G × G` grid.
#[derive(Clone, Debug, PartialEq)]
pub struct LandscapeGrid {
    /// Points per side `G`.
    pub size: usize,
    /// Input dimension `d`.
    pub inputs: usize,
    /// The planes; empty for the square.
    pub planes: Vec<DataPlane>,
}

impl LandscapeGrid {
    /// §3's grid on the square `[−1, 1]²`.
    pub fn square(size: usize) -> Self {
        Self {
            size,
            inputs: INPUT_DIM,
            planes: Vec::new(),
        }
    }

    /// The landscape of a run on `train`: the square for two inputs, else
    /// `planes` planes through its points drawn from `seed`; the error says
    /// why the data give fewer.
    pub fn for_data(
        train: &Dataset,
        size: usize,
        planes: usize,
        seed: u64,
    ) -> Result<Self, String> {
        if train.inputs == INPUT_DIM {
            return Ok(Self::square(size));
        }
        let drawn = data_planes(train, planes, seed);
        if planes == 0 {
            return Err("a landscape beyond the plane needs 1 or more planes".into());
        }
        if drawn.len() < planes {
            return Err(format!(
                "the training set spans only {} of the {planes} planes asked for: its points lie on a line",
                drawn.len()
            ));
        }
        Ok(Self {
            size,
            inputs: train.inputs,
            planes: drawn,
        })
    }

    /// The landscapes a network draws: one per plane, or one on the square.
    pub fn sections(&self) -> usize {
        self.planes.len().max(1)
    }

    /// Every point, `[sections·G·G, d]` row-major, section by section, each
    /// in the 2-D grid's order (x fastest).
    pub fn points(&self) -> Vec<f32> {
        if self.planes.is_empty() {
            return landscape_grid(self.size);
        }
        self.planes.iter().flat_map(|p| p.grid(self.size)).collect()
    }

    /// [`LandscapeGrid::points`] as a tensor.
    pub fn tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        let rows = self.sections() * self.size * self.size;
        Tensor::from_data(TensorData::new(self.points(), [rows, self.inputs]), device)
    }

    /// The plane coordinates of the data points a section was drawn
    /// through (none on the square).
    pub fn marks(&self, section: usize) -> Vec<[f64; 2]> {
        self.planes
            .get(section)
            .map_or_else(Vec::new, |p| p.anchors.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> [Vec<f64>; 3] {
        [
            vec![1.0, 0.0, 2.0, -1.0],
            vec![0.5, 3.0, 0.0, 1.0],
            vec![-2.0, 1.0, 1.0, 0.0],
        ]
    }

    #[test]
    fn the_square_holds_the_three_points_and_is_orthonormal() {
        let [a, b, c] = points();
        let plane = DataPlane::through(&a, &b, &c).unwrap();
        assert!((norm(&plane.first) - 1.0).abs() < 1e-12);
        assert!((norm(&plane.second) - 1.0).abs() < 1e-12);
        assert!(dot(&plane.first, &plane.second).abs() < 1e-12);
        let mut farthest: f64 = 0.0;
        for p in [&a, &b, &c] {
            let (u, v) = plane.coordinates(p);
            // In the plane: its point at (u, v) is p itself.
            let back = plane.point(u, v);
            assert!(back.iter().zip(p).all(|(x, y)| (x - y).abs() < 1e-12));
            assert!(u.abs() <= 1.0 && v.abs() <= 1.0, "({u}, {v})");
            farthest = farthest.max(u.hypot(v));
        }
        // The farthest of the three is at distance r from the centre.
        assert!((farthest - 1.0).abs() < 1e-12);
        assert_eq!(plane.coordinates(&plane.centre), (0.0, 0.0));
        // The grid is the 2-D landscape grid laid on the plane, point for
        // point in the same order.
        let (grid, square) = (plane.grid(5), crate::problem::landscape_grid(5));
        assert_eq!(grid.len(), 25 * 4);
        for (k, uv) in square.chunks_exact(2).enumerate() {
            let expected = plane.point(f64::from(uv[0]), f64::from(uv[1]));
            let row = &grid[4 * k..4 * k + 4];
            assert!(row
                .iter()
                .zip(&expected)
                .all(|(x, y)| (f64::from(*x) - y).abs() < 1e-5));
        }
    }

    #[test]
    fn the_plane_does_not_depend_on_the_order_of_the_points() {
        let [a, b, c] = points();
        let plane = DataPlane::through(&a, &b, &c).unwrap();
        let other = DataPlane::through(&c, &a, &b).unwrap();
        assert!((plane.radius - other.radius).abs() < 1e-12);
        assert!(plane
            .centre
            .iter()
            .zip(&other.centre)
            .all(|(x, y)| (x - y).abs() < 1e-12));
        // The same plane, turned or flipped: each direction of one lies in
        // the span of the other's.
        for e in [&other.first, &other.second] {
            let inside = dot(e, &plane.first).hypot(dot(e, &plane.second));
            assert!((inside - 1.0).abs() < 1e-12, "{inside}");
        }
    }

    #[test]
    fn collinear_points_span_no_plane() {
        let a = vec![0.0, 0.0, 0.0];
        assert_eq!(
            DataPlane::through(&a, &[1.0, f64::NAN, 0.0], &[0.0, 1.0, 0.0]),
            None
        );
        assert_eq!(
            DataPlane::through(&a, &[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]),
            None
        );
        assert_eq!(DataPlane::through(&a, &a, &[1.0, 0.0, 0.0]), None);
    }

    #[test]
    fn planes_are_seeded_and_pass_through_training_points() {
        let train = Dataset {
            inputs: 3,
            classes: 2,
            points: (0..60).map(|k| ((k * 37 % 11) as f32) - 5.0).collect(),
            labels: vec![0.0; 20],
        };
        let planes = data_planes(&train, 4, 3);
        assert_eq!(planes.len(), 4);
        assert_eq!(planes, data_planes(&train, 4, 3));
        assert_ne!(planes, data_planes(&train, 4, 4));
        // A line of points spans no plane: none is drawn, and the draw ends.
        let line = Dataset {
            points: (0..60).map(|k| (k / 3) as f32).collect(),
            ..train.clone()
        };
        assert!(data_planes(&line, 2, 0).is_empty());
        assert!(LandscapeGrid::for_data(&line, 5, 2, 0)
            .unwrap_err()
            .contains("line"));
        assert!(LandscapeGrid::for_data(&train, 5, 0, 0).is_err());
        // Two inputs: the square, no planes.
        let flat = Dataset {
            inputs: 2,
            ..train.clone()
        };
        assert_eq!(
            LandscapeGrid::for_data(&flat, 5, 4, 0),
            Ok(LandscapeGrid::square(5))
        );
        // A plane's grid holds its three points: each is within half a
        // grid step of a grid point.
        let grid = LandscapeGrid::for_data(&train, 41, 2, 3).unwrap();
        let points = grid.points();
        assert_eq!(points.len(), 2 * 41 * 41 * 3);
        for (section, plane) in grid.planes.iter().enumerate() {
            for [u, v] in grid.marks(section) {
                let anchor = plane.point(u, v);
                let section_points = &points[section * 41 * 41 * 3..(section + 1) * 41 * 41 * 3];
                let nearest = section_points
                    .chunks_exact(3)
                    .map(|p| {
                        p.iter()
                            .zip(&anchor)
                            .map(|(x, y)| (f64::from(*x) - y).powi(2))
                            .sum::<f64>()
                            .sqrt()
                    })
                    .fold(f64::INFINITY, f64::min);
                // Half a step along each of the two directions, in the plane.
                let half_step = plane.radius / 40.0 * std::f64::consts::SQRT_2;
                assert!(nearest <= half_step + 1e-4, "{nearest} > {half_step}");
                assert!(u.abs() <= 1.0 + 1e-12 && v.abs() <= 1.0 + 1e-12);
            }
        }
    }
}
