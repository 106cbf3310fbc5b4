#!/usr/bin/env bash
# The GPU figures of benches/RACE.md: `variability bench` and the quick
# study on the wgpu backend, with the Flex bench beside them for scale. Run
# it on a machine with a GPU, from the repository root:
#
#   bash benches/gpu.sh [OUT]
#
# OUT (default: $OUT, else results/gpu) receives every output and a
# summary, summary.txt, whose lines go into benches/RACE.md. The script
# builds the binary first (release, the default features, wgpu included)
# and stops at the first failing step.
set -euo pipefail
out=${1:-${OUT:-results/gpu}}
mkdir -p "$out"
summary=$out/summary.txt
: > "$summary"

# wgpu looks for a runtime directory; a bare machine may have none.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-gpu}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

say() { echo "$*" | tee -a "$summary"; }
timed() { # name command...: runs the command, its output to OUT/name.txt
  local name=$1; shift
  local start=$EPOCHREALTIME
  "$@" > "$out/$name.txt" 2>&1 || { say "$name: FAILED (see $out/$name.txt)"; tail -20 "$out/$name.txt"; exit 1; }
  say "$name: $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
}

say "date: $(date -u +%FT%TZ)"
say "revision: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
say "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) threads)"
if command -v nvidia-smi > /dev/null; then
  say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
else
  say "gpu: nvidia-smi not found (wgpu picks whatever adapter it finds)"
fi

timed build cargo build --release
bin=target/release/variability
timed bench-wgpu "$bin" bench --backend wgpu --out "$out/bench-wgpu.json"
timed bench-flex "$bin" bench --backend flex --out "$out/bench-flex.json"
timed study-wgpu "$bin" study experiments/quick.toml --backend wgpu --fresh --quiet --out "$out/quick-wgpu"
timed study-flex "$bin" study experiments/quick.toml --backend flex --fresh --quiet --out "$out/quick-flex"

for backend in wgpu flex; do
  say ""
  say "bench --backend $backend:"
  grep -v '^figures in' "$out/bench-$backend.txt" | tee -a "$summary" > /dev/null
done
echo "summary in $summary"
