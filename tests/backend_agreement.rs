//! Every backend gives the same numbers as ndarray on the same networks
//! (weights are drawn on the host, so all backends build identical ones).
//! Without a GPU, wgpu runs on Mesa's software Vulkan device.

mod common;

use common::{json_lines, run_with_env, stderr, TempDir};
use serde_json::Value;

/// On the software device, kernel autotuning costs minutes and buys nothing.
const ENV: &[(&str, &str)] = &[("CUBECL_AUTOTUNE_LEVEL", "minimal")];

const ARGS: &[&str] = &[
    "train",
    "--activation",
    "relu,abs,tanh",
    "--depth",
    "1,3",
    "--budget",
    "120",
    "--seeds",
    "3",
    "--grid",
    "12",
    "--train-size",
    "64",
    "--test-size",
    "64",
    "--steps",
    "10",
    "--log-every",
    "5",
    "--quiet",
];

fn run(dir: &TempDir, backend: &str) -> Vec<Value> {
    run_to(dir, backend, &format!("{backend}.jsonl"))
}

fn run_to(dir: &TempDir, backend: &str, out: &str) -> Vec<Value> {
    let args: Vec<&str> = ARGS
        .iter()
        .copied()
        .chain(["--backend", backend, "--out", out])
        .collect();
    let output = run_with_env(dir.path(), &args, ENV);
    assert!(output.status.success(), "{backend}: {}", stderr(&output));
    // Workers finish in any order: compare network by network.
    let mut records = json_lines(&dir.join(out));
    records.sort_by_key(|r| r["network_seed"].as_u64());
    records
}

/// Relative agreement, with an absolute floor for values at float resolution.
fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()) + 1e-6
}

fn numbers(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(numbers).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        _ => vec![],
    }
}

/// Every number under each of `keys` in record `b` (from `backend`) is
/// within `relative` of ndarray's record `a`.
fn assert_keys_close(a: &Value, b: &Value, keys: &[&str], relative: f64, backend: &str) {
    for key in keys {
        for (x, y) in numbers(&a[*key]).into_iter().zip(numbers(&b[*key])) {
            assert!(close(x, y, relative), "{key}: ndarray {x} vs {backend} {y}");
        }
    }
}

/// Runs the same command on ndarray and on `backend` and compares them
/// network by network.
fn agrees_with_ndarray(backend: &str) {
    let dir = TempDir::new(backend);
    let cpu = run(&dir, "ndarray");
    let other = run(&dir, backend);
    assert_eq!(cpu.len(), other.len());
    for (a, b) in cpu.iter().zip(&other) {
        assert_eq!(a["network_seed"], b["network_seed"]);
        assert_eq!(b["backend"], backend);
        // Measures at initialisation: the same network, so 1e-4 relative.
        let measures = [
            "activation_ratio",
            "v3",
            "rv_out",
            "rv_layers",
            "grad_norms",
        ];
        assert_keys_close(a, b, &measures, 1e-4, backend);
        // A few Adam steps: rounding differences grow, but stay small.
        for (x, y) in numbers(&a["loss_curve"])
            .into_iter()
            .zip(numbers(&b["loss_curve"]))
        {
            assert!(close(x, y, 1e-3), "loss: ndarray {x} vs {backend} {y}");
        }
    }
}

#[cfg(feature = "wgpu")]
#[test]
fn ndarray_and_wgpu_agree_on_the_same_networks() {
    agrees_with_ndarray("wgpu");
}

#[test]
fn ndarray_and_flex_agree_on_the_same_networks() {
    agrees_with_ndarray("flex");
}

#[test]
fn flex_gives_the_same_numbers_twice() {
    let dir = TempDir::new("flex-twice");
    let first = run_to(&dir, "flex", "first.jsonl");
    let second = run_to(&dir, "flex", "second.jsonl");
    let strip = |records: Vec<Value>| -> Vec<Value> {
        records
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("train_seconds");
                r
            })
            .collect()
    };
    assert_eq!(strip(first), strip(second));
}

/// The paper's widest network (depth 1, width 500 at budget 2000) on the
/// paper's 101 × 101 grid: 5 million (point, unit) pairs per layer, where a
/// single reduction on wgpu once miscounted the active pairs. Every
/// measure, on every backend built in, against ndarray.
#[test]
fn the_widest_shape_agrees_on_every_backend() {
    let dir = TempDir::new("wide");
    let measure = |backend: &str| -> Vec<Value> {
        let out = format!("wide-{backend}.jsonl");
        let args = [
            "measure",
            "--activation",
            "relu,abs",
            "--depth",
            "1",
            "--budget",
            "2000",
            "--seeds",
            "2",
            "--grid",
            "101",
            "--quiet",
            "--backend",
            backend,
            "--out",
            &out,
        ];
        let output = run_with_env(dir.path(), &args, ENV);
        assert!(output.status.success(), "{backend}: {}", stderr(&output));
        let mut records = json_lines(&dir.join(&out));
        records.sort_by_key(|r| r["network_seed"].as_u64());
        records
    };
    let reference = measure("ndarray");
    assert_eq!(reference[0]["width"], 500);
    // abs is active everywhere: an exact count to hold the others to.
    let abs = reference.iter().find(|r| r["activation"] == "abs").unwrap();
    assert_eq!(abs["activation_ratio"], 1.0);
    let mut backends = vec!["flex"];
    if cfg!(feature = "wgpu") {
        backends.push("wgpu");
    }
    for backend in backends {
        for (a, b) in reference.iter().zip(&measure(backend)) {
            assert_eq!(a["network_seed"], b["network_seed"]);
            for key in [
                "activation_ratio",
                "activation_count",
                "v3",
                "rv_out",
                "c2c",
            ] {
                assert_eq!(a[key].is_null(), b[key].is_null(), "{key}");
            }
            let measures = [
                "activation_ratio",
                "activation_count",
                "v3",
                "rv_out",
                "rv_layers",
                "grad_norms",
            ];
            assert_keys_close(a, b, &measures, 1e-4, backend);
            // The proxies go through products and eigenvalues of kernels
            // over the batch: 1e-3.
            let proxies = ["naswot", "grad_norm", "snip", "synflow", "ntk_cond", "zico"];
            assert_keys_close(a, b, &proxies, 1e-3, backend);
        }
    }
}
