#!/usr/bin/env bash
# System packages the tests need on Debian bookworm (run as root):
# - Mesa's lavapipe Vulkan driver from bookworm-backports: Dawn (the `webgpu` npm package) runs the
#   WebGPU kernels on it in Node; bookworm's own Mesa 22 fails there.
# - Mesa 26's lavapipe, unpacked into a folder of its own (install-coopmat-lavapipe.sh): the only
#   driver here with cooperative matrices, which the subgroup-matrix GEMM's tests run on.
# - chromium, for the page tests (the browser bundle, the demo) on WebGPU and wasm.
# - jupyter-nbconvert and jupyter-client, which execute examples/notebook.ipynb on Deno's kernel (the
#   `deno` devDependency; the test registers the kernel itself, offline).
set -euo pipefail
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ] && ! grep -q 'bookworm-backports' "$sources"; then
  sed -i '0,/^Suites: bookworm bookworm-updates$/s//Suites: bookworm bookworm-updates bookworm-backports/' "$sources"
fi
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
apt-get install -y -qq chromium jupyter-nbconvert jupyter-client >/dev/null
bash "$(dirname "$0")/install-coopmat-lavapipe.sh"
echo "system packages: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers), chromium $(dpkg-query -W -f='${Version}' chromium), jupyter-nbconvert $(dpkg-query -W -f='${Version}' jupyter-nbconvert)"
