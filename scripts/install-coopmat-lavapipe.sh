#!/usr/bin/env bash
# Mesa 26's lavapipe (Debian trixie-backports), whose Vulkan has cooperative matrices: Dawn offers
# WebGPU's subgroup matrices on it, so the tensor-core kernels (custom-kernels/webgpu/gemm/
# subgroup_matrix_gemm.ts) are tested on a CPU. Bookworm's backports stop at Mesa 25.0, without them.
# Mesa 26 needs trixie's glibc, so apt fetches it and its libraries with a configuration of its own
# into PREFIX (nothing is installed into the system), and PREFIX/node runs Node through trixie's
# loader with that lavapipe as its only Vulkan driver. Usage: install-coopmat-lavapipe.sh [PREFIX]
set -euo pipefail
PREFIX=${1:-/opt/lavapipe-coopmat}
if [ -x "$PREFIX/node" ] && "$PREFIX/node" -e '' 2>/dev/null; then
  echo "lavapipe with cooperative matrices: $PREFIX (already there)"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
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
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new/root"
for deb in "$work"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$PREFIX.new/root"; done
lib="$PREFIX/root/usr/lib/x86_64-linux-gnu"
cat > "$PREFIX.new/lvp_icd.json" <<EOF
{ "file_format_version": "1.0.1", "ICD": { "library_path": "$lib/libvulkan_lvp.so", "api_version": "1.4.0" } }
EOF
cat > "$PREFIX.new/node" <<EOF
#!/bin/sh
# Node on trixie's glibc, with Mesa 26's lavapipe as its only Vulkan driver (scripts/install-coopmat-lavapipe.sh)
exec env VK_DRIVER_FILES="$PREFIX/lvp_icd.json" VK_ICD_FILENAMES="$PREFIX/lvp_icd.json" \\
  "$lib/ld-linux-x86-64.so.2" --library-path "$lib:$PREFIX/root/usr/lib" "\$(command -v node)" "\$@"
EOF
chmod +x "$PREFIX.new/node"
rm -rf "$PREFIX"
mv "$PREFIX.new" "$PREFIX"
"$PREFIX/node" -e '' || { echo "install-coopmat-lavapipe: $PREFIX/node does not start" >&2; exit 1; }
echo "lavapipe with cooperative matrices: $PREFIX (mesa-vulkan-drivers $(dpkg-deb -f "$work"/cache/archives/mesa-vulkan-drivers_*.deb Version))"
