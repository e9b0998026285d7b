#!/usr/bin/env bash
# Bundles bench/gpu.ts (or ENTRY, e.g. bench/lag.ts) as it stands at another commit into .gpu-old/gpu.mjs
# (lag.mjs), for a device call to time beside today's bundle (bench/h200_call.sh's "old" and "oldlag"
# steps; the device has no Node.js to build with). From the project root: bash bench/bundle_old.sh REV [ENTRY]
set -euo pipefail
root=$(pwd)
rev=${1:?the commit to bundle at}
entry=${2:-bench/gpu.ts}
out="$root/.gpu-old/$(basename "$entry" .ts).mjs"
tree=$(mktemp -d)/tree
git worktree add --detach -q "$tree" "$rev"
trap 'git worktree remove --force "$tree"' EXIT
ln -s "$root/node_modules" "$tree/node_modules"
mkdir -p "$root/.gpu-old"
(cd "$tree" && npx esbuild "$entry" --bundle --platform=node --format=esm --target=node20 --external:webgpu \
  --outfile="$out" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);")
echo "$out: $entry at $(git rev-parse --short "$rev")"
