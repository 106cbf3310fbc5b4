#!/usr/bin/env bash
# Queues a study on Slurm as a job array of SHARDS tasks, and a merge +
# report job that starts once all of them succeeded:
#
#   scripts/slurm/submit.sh experiments/paper.toml 8 [results/paper] [-- extra study flags]
#
# OUT defaults to results/<name> (the study file's `name`). Logs go to
# OUT/logs/. Prints the two job ids. `VARIABILITY` names the binary
# (default: `variability` on the PATH); sbatch passes the environment on.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 STUDY.toml SHARDS [OUT] [-- extra variability study flags]" >&2
    exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
study="$1"
shards="$2"
shift 2
out=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    out="$1"
    shift
fi
[ "${1:-}" = "--" ] && shift
if ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: SHARDS must be a positive whole number, got '$shards'" >&2
    exit 2
fi
if [ -z "$out" ]; then
    name="$(sed -n 's/^name *= *"\([^"]*\)".*/\1/p' "$study" | head -n 1)"
    if [ -z "$name" ]; then
        echo "$0: no name = \"…\" in $study; give OUT explicitly" >&2
        exit 2
    fi
    out="results/$name"
fi
mkdir -p "$out/logs"
array="$(sbatch --parsable --array="0-$((shards - 1))" --output="$out/logs/shard-%a.out" "$here/study.sbatch" "$study" "$out" "$@")"
array="${array%%;*}"
merge="$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --output="$out/logs/merge.out" "$here/merge.sbatch" "$out")"
merge="${merge%%;*}"
echo "array job $array ($shards shards), merge job $merge; results in $out"
