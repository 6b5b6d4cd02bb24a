#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (real
# containers, as root). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Tests keep containers off the host's network (berth.conf per test, or a
# namespace of their own): a default bridge that appears means one did not.
# Nor do they use the host's network records and addresses (berth.conf's
# network_dir and network_run_dir point at each test's own).
had_bridge=$(ip link show berth0 >/dev/null 2>&1 && echo yes || true)
had_dirs=$(ls -d /etc/berth/networks /run/berth/networks 2>/dev/null || true)
cargo test --workspace --no-fail-fast 2>&1
if [ -z "$had_bridge" ] && ip link show berth0 >/dev/null 2>&1; then
    echo "test.sh: a test ran a container on the host's default network (berth0 appeared): give it the env's BERTH_CONFIG" >&2
    exit 1
fi
if [ "$(ls -d /etc/berth/networks /run/berth/networks 2>/dev/null || true)" != "$had_dirs" ]; then
    echo "test.sh: a test used the host's network directories (/etc/berth/networks or /run/berth/networks appeared): give it the env's BERTH_CONFIG" >&2
    exit 1
fi
