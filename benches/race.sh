#!/usr/bin/env bash
# The race of benches/RACE.md: the same workloads through the plain PyTorch
# loop (../shared/peers/torch_study.py) and through variability, one after
# the other on this machine. Run it on a quiet machine.
#
#   python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch numpy
#   bash benches/race.sh /tmp/torch/bin/python
#
# Arguments: the Python with torch (default python3) and the peer script
# (default ../shared/peers/torch_study.py). Prints one line per run and a
# table of ratios; the outputs of both tools go to results/race/.
set -euo pipefail
python=${1:-python3}
peer=${2:-../shared/peers/torch_study.py}
out=results/race
mkdir -p "$out"
cargo build --release --quiet
ours=target/release/variability

declare -A seconds
run() { # name tool command...
  local name=$1 tool=$2; shift 2
  local start=$EPOCHREALTIME
  "$@" > "$out/$name-$tool.txt"
  seconds[$name-$tool]=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  echo "$name / $tool: ${seconds[$name-$tool]} s"
}

# 1. Measures: relu and abs at depths 1..32, 50 seeds, budget 2000, grid 101.
run measure torch "$python" "$peer" measure --act relu,abs --depths 1,2,4,8,16,32 --params 2000 --seeds 50
# --no-proxies: the peer computes the paper's measures only (ours add the
# gradient profile, which the peer skips, and would add the six proxies).
run measure variability "$ours" measure --activation relu,abs --depth 1,2,4,8,16,32 --budget 2000 --seeds 50 --quiet --no-proxies
# 2. Training: relu at depths 1, 4, 16, 3 seeds, 2000 full-batch Adam steps.
run train torch "$python" "$peer" train --act relu --depths 1,4,16 --params 2000 --seeds 3 --steps 2000
run train variability "$ours" train --activation relu --depth 1,4,16 --seeds 3 --steps 2000 --quiet
# 3. The paper study's shape, scaled down: relu at the paper's 12 depths,
#    5 networks trained per point (as in the paper), 200 steps.
paper_depths=1,2,3,4,6,8,12,16,24,32,48,64
run paper-train torch "$python" "$peer" train --act relu --depths $paper_depths --params 2000 --seeds 5 --steps 200
run paper-train variability "$ours" train --activation relu --depth $paper_depths --seeds 5 --steps 200 --quiet
run paper-measure torch "$python" "$peer" measure --act relu --depths $paper_depths --params 2000 --seeds 45
run paper-measure variability "$ours" measure --activation relu --depth $paper_depths --seeds 45 --quiet --no-proxies

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# The paper study: 3 activations × (45 more networks measured per point +
# 5 trained for 2000 steps, i.e. 10× the 200 steps above).
paper() { awk -v m="${seconds[paper-measure-$1]}" -v t="${seconds[paper-train-$1]}" 'BEGIN { printf "%.0f", 3 * (m + 10 * t) }'; }
echo
echo "| workload | PyTorch loop (s) | variability (s) | speed-up |"
echo "|---|---:|---:|---:|"
for name in measure train paper-train paper-measure; do
  echo "| $name | ${seconds[$name-torch]} | ${seconds[$name-variability]} | $(ratio "${seconds[$name-torch]}" "${seconds[$name-variability]}")× |"
done
echo "| paper study (estimated from the two rows above) | $(paper torch) | $(paper variability) | $(ratio "$(paper torch)" "$(paper variability)")× |"
