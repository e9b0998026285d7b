#!/usr/bin/env bash
# Bundles bench/gpu.ts as it stands at another commit into .gpu-old/gpu.mjs, for a device call to time
# beside today's bundle (bench/h200_call.sh's "old" step; the device has no Node.js to build with).
# From the project root: bash bench/bundle_old.sh REV
set -euo pipefail
rev=${1:?the commit to bundle bench/gpu.ts at}
root=$(pwd)
tree=$(mktemp -d)/tree
git worktree add --detach -q "$tree" "$rev"
trap 'git worktree remove --force "$tree"' EXIT
ln -s "$root/node_modules" "$tree/node_modules"
mkdir -p "$root/.gpu-old"
(cd "$tree" && npx esbuild bench/gpu.ts --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --outfile="$root/.gpu-old/gpu.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);")
echo "$root/.gpu-old/gpu.mjs: bench/gpu.ts at $(git rev-parse --short "$rev")"
