//! The naive loops the kernels' unit tests check them against
//! (`narrow.rs`, `thin.rs`), with their tolerance.

/// `count` test values from −1.53 to 1.53, varied by `salt`.
pub(super) fn values(count: usize, salt: usize) -> Vec<f32> {
    (0..count)
        .map(|i| (((i * 29 + salt * 7) % 19) as f32 - 9.0) * 0.17)
        .collect()
}

fn close(got: f32, expected: f32) -> bool {
    (got - expected).abs() <= 1e-5 * expected.abs().max(1.0)
}

/// `out` is `start + a·m` (row-major `points × inner`, `inner × outer`).
pub(super) fn check_product([a, m, start, out]: [&[f32]; 4], [points, inner, outer]: [usize; 3]) {
    assert_eq!(out.len(), points * outer);
    for p in 0..points {
        for j in 0..outer {
            let products = (0..inner).map(|i| a[p * inner + i] * m[i * outer + j]);
            let expected = start[j] + products.sum::<f32>();
            let got = out[p * outer + j];
            assert!(
                close(got, expected),
                "{points}×{inner}×{outer} [{p},{j}]: {got} vs {expected}"
            );
        }
    }
}

/// `product` is `start_product + aᵀ·g` and `sums` is `start_sums` plus the
/// column sums of `g` (row-major `points × inner`, `points × outer`).
pub(super) fn check_transposed_product_and_sum(
    [a, g, start_product, start_sums]: [&[f32]; 4],
    [product, sums]: [&[f32]; 2],
    [points, inner, outer]: [usize; 3],
) {
    assert_eq!((product.len(), sums.len()), (inner * outer, outer));
    for j in 0..outer {
        let expected = start_sums[j] + (0..points).map(|p| g[p * outer + j]).sum::<f32>();
        assert!(
            close(sums[j], expected),
            "sum {j}: {} vs {expected}",
            sums[j]
        );
        for i in 0..inner {
            let products = (0..points).map(|p| a[p * inner + i] * g[p * outer + j]);
            let expected = start_product[i * outer + j] + products.sum::<f32>();
            let got = product[i * outer + j];
            assert!(
                close(got, expected),
                "{points}×{inner}×{outer} [{i},{j}]: {got} vs {expected}"
            );
        }
    }
}
