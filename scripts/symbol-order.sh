#!/usr/bin/env bash
# Remake crates/cli/symbol-order.txt: the functions berth and its monitor
# run for the commonest commands, in the order they first ran, which the
# build links next to each other (crates/cli/build.rs). Run it after
# changes to what those commands run; names that went stale are skipped at
# link time, so an old list costs speed, never correctness.
#
#   scripts/symbol-order.sh      # RUNS=N rounds of the workload (default 150)
#
# Needs root and perf (apt-get install linux-perf); builds the release
# (whose symbols the profile reads: Cargo.toml keeps them); talks to no
# network.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-150}
die() { echo "symbol-order: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
command -v perf >/dev/null || die "missing perf (apt-get install linux-perf)"

cargo build --release -p berth-cli --manifest-path "$repo/Cargo.toml" >&2
bin=$repo/target/x86_64-unknown-linux-gnu/release

work=$(mktemp -d /var/tmp/berth-symbol-order.XXXXXX)
# Monitors run from a detached read-only mount of berth's directory, which
# perf names by the path inside it: a link there lets it read their symbols.
link=/berth-monitor
[ ! -e "$link" ] || [ -L "$link" ] || die "$link exists and is not a link"
cleanup() {
    "$bin/berth" --root "$work/root" --runroot "$work/run" rm -af -t 0 >/dev/null 2>&1 || true
    rm -f "$link"
    rm -rf "$work"
}
trap cleanup EXIT
ln -sfn "$bin/berth-monitor" "$link"

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
echo 'root:x:0:' >"$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/bb.tar" .
B="$bin/berth --root $work/root --runroot $work/run"
$B import -q "$work/bb.tar" bb >/dev/null
perf record -q -a -o "$work/perf.data" -e cpu-clock/freq=20000/ -e page-faults/period=1/ -- sh -c "
    for i in \$(seq $RUNS); do
        $B run --rm bb true
        id=\$($B run -d bb sleep 60)
        $B ps -a
        $B rm -f -t 0 \$id
        $B rm \$($B create bb true)
        $B images
    done" >/dev/null 2>&1
# Every function of berth's binaries a sample or a page fault landed in,
# first ones first.
perf script -i "$work/perf.data" --no-demangle -F ip,sym,dso 2>/dev/null |
    awk -v b="($bin/berth)" -v m="($link)" '($NF == b || $NF == m) && $2 != "[unknown]" {
        sub(/\+0x[0-9a-f]+$/, "", $2); if (!seen[$2]++) print $2 }' >"$repo/crates/cli/symbol-order.txt"
echo "symbol-order: $(wc -l <"$repo/crates/cli/symbol-order.txt") functions in crates/cli/symbol-order.txt" >&2
