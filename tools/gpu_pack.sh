#!/usr/bin/env bash
# Build here what tools/gpu_check.sh runs on a machine with a real GPU and no
# Rust toolchain: the release binary, every test binary and the two benches,
# stripped and packed into .gpubin/bins.tar.xz (about 13 MiB), plus the Vulkan
# loader's Debian packages in .gl/ (a bare GPU machine may lack libvulkan).
# Both folders are ignored by git (.git/info/exclude).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
tests=$(cargo test --release --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"]+"="+m["executable"])')
benches=$(cargo bench --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["bench"]:
        print(m["target"]["name"]+"="+m["executable"])')
rm -rf .gpubin/stage && mkdir -p .gpubin/stage
cp target/release/nli-wgpu .gpubin/stage/
for pair in $tests; do cp "${pair#*=}" ".gpubin/stage/test_${pair%%=*}"; done
for pair in $benches; do cp "${pair#*=}" ".gpubin/stage/bench_${pair%%=*}"; done
strip .gpubin/stage/*
tar cf - -C .gpubin/stage . | xz -9e -c >.gpubin/bins.tar.xz
rm -rf .gpubin/stage
pwd >.gpubin/manifest_dir # where the binaries look for bench/results, models/, tests/fixtures
ls -la .gpubin
if ! ls .gl/libglx0_*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  # The NVIDIA Vulkan driver also needs the GL vendor-neutral libraries.
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
for p in /.gl/ /.gpubin/; do
  grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude
done
