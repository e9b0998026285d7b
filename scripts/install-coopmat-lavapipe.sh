#!/usr/bin/env bash
# Mesa 26's lavapipe (Debian trixie-backports), whose Vulkan has cooperative matrices: Dawn offers
# WebGPU's subgroup matrices on it, so the tensor-core kernels (custom-kernels/webgpu/gemm/
# subgroup_matrix_gemm.ts) are tested on a CPU. Bookworm's backports stop at Mesa 25.0, without them.
# Mesa 26 needs trixie's glibc, so apt fetches it and its libraries with a configuration of its own
# into PREFIX (nothing is installed into the system), and PREFIX/node runs Node through trixie's
# loader with that lavapipe as its only Vulkan driver. The tree is built beside PREFIX, checked, then
# put in its place. Usage: install-coopmat-lavapipe.sh [PREFIX]   (amd64, as root)
set -euo pipefail
PREFIX=${1:-/opt/lavapipe-coopmat}
MIN_MESA=26   # the first major version seen offering the matrices here (26.1.6)
if [ "$(dpkg --print-architecture)" != amd64 ]; then
  echo "install-coopmat-lavapipe: amd64 only (this is $(dpkg --print-architecture))" >&2
  exit 1
fi
if [ -f "$PREFIX/mesa-version" ] && "$PREFIX/node" -e '' 2>/dev/null; then
  echo "lavapipe with cooperative matrices: $PREFIX (Mesa $(cat "$PREFIX/mesa-version"), already there)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work" "$PREFIX.new"' EXIT
mkdir -p "$work"/{parts,prefs,state/lists/partial,cache/archives/partial}
touch "$work/state/status"   # nothing installed: apt fetches every dependency
cat > "$work/sources.list" <<'EOF'
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian trixie-backports main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::Etc::Parts=$work/parts"
  -o "Dir::Etc::Preferences=$work/prefs/none" -o "Dir::Etc::PreferencesParts=$work/prefs"
  -o "Dir::State=$work/state" -o "Dir::State::status=$work/state/status" -o "Dir::Cache=$work/cache"
  -o "APT::Sandbox::User=root")   # the private folders are root's
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install --download-only -y -qq -t trixie-backports mesa-vulkan-drivers >/dev/null
version=$(dpkg-deb -f "$work"/cache/archives/mesa-vulkan-drivers_*.deb Version)
if ! dpkg --compare-versions "$version" ge "$MIN_MESA"; then
  echo "install-coopmat-lavapipe: trixie-backports has Mesa $version, older than $MIN_MESA" >&2
  exit 1
fi
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new/root"
for deb in "$work"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$PREFIX.new/root"; done
# A relative library path is relative to the manifest: the tree works wherever it lies.
cat > "$PREFIX.new/lvp_icd.json" <<'EOF'
{ "file_format_version": "1.0.1", "ICD": { "library_path": "root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so", "api_version": "1.4.0" } }
EOF
cat > "$PREFIX.new/node" <<'EOF'
#!/bin/sh
# Node on trixie's glibc, with Mesa 26's lavapipe as its only Vulkan driver (scripts/install-coopmat-lavapipe.sh)
here=$(dirname "$(readlink -f "$0")")
lib="$here/root/usr/lib/x86_64-linux-gnu"
node=$(command -v node) || { echo "$0: no node on PATH" >&2; exit 127; }
exec env VK_DRIVER_FILES="$here/lvp_icd.json" VK_ICD_FILENAMES="$here/lvp_icd.json" \
  "$lib/ld-linux-x86-64.so.2" --library-path "$lib:$here/root/usr/lib" "$node" "$@"
EOF
chmod +x "$PREFIX.new/node"
"$PREFIX.new/node" -e '' || { echo "install-coopmat-lavapipe: Node does not start on trixie's glibc" >&2; exit 1; }
echo "$version" > "$PREFIX.new/mesa-version"
rm -rf "$PREFIX.old"
if [ -e "$PREFIX" ]; then mv "$PREFIX" "$PREFIX.old"; fi
mv "$PREFIX.new" "$PREFIX"
rm -rf "$PREFIX.old"
echo "lavapipe with cooperative matrices: $PREFIX (Mesa $version)"
