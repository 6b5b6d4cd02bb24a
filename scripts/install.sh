#!/usr/bin/env bash
# Install what building and testing berth needs on Debian 12, then build.
# Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# build: gcc + libseccomp; fixtures: busybox-static; peers for tests and benchmarks;
# the cgroup-v2 guest of crates/cli/tests/guest.rs (shared/vm/run-in-v2-guest.sh):
# qemu-system-x86, cpio, busybox-static (python3 unpacks its kernel faster).
apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config libseccomp-dev busybox-static file jq time procps iproute2 nftables iptables containernetworking-plugins conntrack iperf3 curl \
    runc crun podman buildah conmon uidmap hyperfine skopeo docker-registry strace \
    qemu-system-x86 cpio python3 xz-utils bzip2 >/dev/null
command -v cargo >/dev/null || { echo "install.sh: cargo not found (rustup toolchain expected)" >&2; exit 1; }
cargo build --release --workspace
