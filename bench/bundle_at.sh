#!/usr/bin/env bash
# Bundles bench/gpu.ts as it stands at another commit, or at this one with one of the matvec's trial
# switches (TRIAL_DEFAULTS in custom-kernels/webgpu/decode/matvec.ts) turned on, for a device call to
# time beside today's bundle (bench/h200_call.sh's "old" and "trials" steps; the device has no Node.js
# to build with). Run from the project root:
#   bash bench/bundle_at.sh old REV        -> .gpu-old/gpu.mjs (bench/gpu.ts at REV)
#   bash bench/bundle_at.sh trial SWITCH   -> .gpu-trials/SWITCH.mjs (HEAD, SWITCH on: xShared, halfCast, decodeInline)
# Uncommitted changes are not in either: commit first.
set -euo pipefail
kind=${1:?old REV or trial SWITCH}; what=${2:?old REV or trial SWITCH}
root=$(pwd)
tree=$(mktemp -d)/tree
case "$kind" in
  old) rev=$what; out=$root/.gpu-old; name=gpu ;;
  trial) rev=HEAD; out=$root/.gpu-trials; name=$what ;;
  *) echo "bundle_at.sh: $kind is not old or trial" >&2; exit 2 ;;
esac
git worktree add --detach -q "$tree" "$rev"
trap 'git worktree remove --force "$tree"' EXIT
ln -s "$root/node_modules" "$tree/node_modules"
if [ "$kind" = trial ]; then
  file=$tree/custom-kernels/webgpu/decode/matvec.ts
  grep -q "^const TRIAL_DEFAULTS = {.*\b$what: false" "$file" || { echo "bundle_at.sh: no trial switch $what in TRIAL_DEFAULTS" >&2; exit 2; }
  sed -i "/^const TRIAL_DEFAULTS = {/s/\b$what: false/$what: true/" "$file"
fi
mkdir -p "$out"
(cd "$tree" && npx esbuild bench/gpu.ts --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --outfile="$out/$name.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);")
[ "$kind" = trial ] && note=" with $what on" || note=""
echo "$out/$name.mjs: bench/gpu.ts at $(git rev-parse --short "$rev")$note"
