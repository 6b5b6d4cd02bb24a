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
    qemu-system-x86 cpio python3 xz-utils bzip2 \
    man-db zsh fish >/dev/null
# (man-db renders the man pages; zsh and fish check the completion scripts:
# crates/cli/tests/{manpages,completion}.rs.)
command -v cargo >/dev/null || { echo "install.sh: cargo not found (rustup toolchain expected)" >&2; exit 1; }
cargo build --release --workspace

# Install berth as a user expects it: the binaries in /usr/local/bin
# (berth-init, berth-monitor and berth-dns must sit beside berth), its man
# pages, its shell completions, and where systemd runs, the unit that
# brings containers back after a reboot (`berth system boot`).
release=target/x86_64-unknown-linux-gnu/release
for bin in berth berth-init berth-monitor berth-dns berth-runtime; do
    install -m 0755 "$release/$bin" /usr/local/bin/
done
berth=/usr/local/bin/berth
mandir=/usr/local/share/man/man1
install -d -m 0755 "$mandir"
"$berth" generate-man "$mandir"
chmod 0644 "$mandir"/berth*.1
command -v mandb >/dev/null && mandb -q || true
install -d -m 0755 /usr/share/bash-completion/completions /usr/share/zsh/vendor-completions /usr/share/fish/vendor_completions.d
"$berth" completion bash -f /usr/share/bash-completion/completions/berth
"$berth" completion zsh -f /usr/share/zsh/vendor-completions/_berth
"$berth" completion fish -f /usr/share/fish/vendor_completions.d/berth.fish
if [ -d /run/systemd/system ]; then
    install -m 0644 contrib/systemd/berth-boot.service /etc/systemd/system/berth-boot.service
    systemctl daemon-reload
    systemctl enable berth-boot.service
fi
