# Sourced by tools/gpu_check.sh and tools/gpu_runs.sh on the GPU machine:
# the Vulkan loader (from .gl/, if missing) and the binaries packed by
# tools/gpu_pack.sh, unpacked into a temporary folder; sets $bin and $nli.
# The Vulkan loader, if the machine has none (tools/gpu_pack.sh fetched it).
# (The NVIDIA driver's Vulkan ICD also loads the glvnd libraries.)
if command -v nvidia-smi >/dev/null &&
  { ! ldconfig -p | grep -q libGLX.so.0 || ! ldconfig -p | grep -q libvulkan.so.1; }; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# The test and bench binaries read files under the directory they were built
# in (CARGO_MANIFEST_DIR): make that path lead here.
built_in=$(cat .gpubin/manifest_dir)
if [ "$built_in" != "$PWD" ] && [ ! -e "$built_in" ]; then
  mkdir -p "$(dirname "$built_in")"
  ln -s "$PWD" "$built_in"
fi
bin=${TMPDIR:-/tmp}/nli-wgpu-bin # outside the repo: .gpubin travels with each call
mkdir -p "$bin" target/release
tar xJf .gpubin/bins.tar.xz -C "$bin"
cp "$bin/nli-wgpu" target/release/nli-wgpu # where tests/cli.rs runs it from
nli="$bin/nli-wgpu"
