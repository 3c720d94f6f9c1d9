#!/usr/bin/env bash
# Install what a fresh Debian/Ubuntu machine lacks to run nli-wgpu:
# a Vulkan driver (Mesa lavapipe when there is no GPU driver) and the loader.
# Safe to run again: it installs nothing when a Vulkan driver is present.
set -euo pipefail

have_vulkan_driver() {
    ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json >/dev/null 2>&1 &&
        ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'
}

if have_vulkan_driver; then
    echo "setup: a Vulkan driver is installed"
else
    echo "setup: no Vulkan driver found; installing Mesa lavapipe (mesa-vulkan-drivers)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust from your distribution or rustup" >&2
    exit 1
fi
