//! The wgpu backend gives the same numbers as ndarray on the same networks
//! (weights are drawn on the host, so both backends build identical ones).
//! On a machine without a GPU this runs on Mesa's software Vulkan device.

mod common;

use common::{json_lines, run_with_env, stderr, TempDir};
use serde_json::Value;

/// On the software device, kernel autotuning costs minutes and buys nothing.
const ENV: &[(&str, &str)] = &[("CUBECL_AUTOTUNE_LEVEL", "minimal")];

const ARGS: &[&str] = &[
    "train", "--activation", "relu,abs", "--depth", "1,3", "--budget", "120", "--seeds", "3", "--grid", "12",
    "--train-size", "64", "--test-size", "64", "--steps", "10", "--log-every", "5", "--quiet",
];

fn run(dir: &TempDir, backend: &str) -> Vec<Value> {
    let out = format!("{backend}.jsonl");
    let args: Vec<&str> = ARGS.iter().copied().chain(["--backend", backend, "--out", &out]).collect();
    let output = run_with_env(dir.path(), &args, ENV);
    assert!(output.status.success(), "{backend}: {}", stderr(&output));
    // Workers finish in any order: compare network by network.
    let mut records = json_lines(&dir.join(&out));
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

#[test]
fn ndarray_and_wgpu_agree_on_the_same_networks() {
    let dir = TempDir::new("wgpu");
    let cpu = run(&dir, "ndarray");
    let gpu = run(&dir, "wgpu");
    assert_eq!(cpu.len(), gpu.len());
    for (a, b) in cpu.iter().zip(&gpu) {
        assert_eq!(a["network_seed"], b["network_seed"]);
        assert_eq!(b["backend"], "wgpu");
        // Measures at initialisation: the same network, so 1e-4 relative.
        for key in ["activation_ratio", "v3", "rv_out", "rv_layers", "grad_norms"] {
            for (x, y) in numbers(&a[key]).into_iter().zip(numbers(&b[key])) {
                assert!(close(x, y, 1e-4), "{key}: ndarray {x} vs wgpu {y}");
            }
        }
        // A few Adam steps: rounding differences grow, but stay small.
        for (x, y) in numbers(&a["loss_curve"]).into_iter().zip(numbers(&b["loss_curve"])) {
            assert!(close(x, y, 1e-3), "loss: ndarray {x} vs wgpu {y}");
        }
    }
}
