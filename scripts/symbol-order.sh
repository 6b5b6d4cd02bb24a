#!/usr/bin/env bash
# Remake crates/cli/symbol-order.txt: the functions berth and its monitor
# run for the commonest commands, in the order they first ran, which the
# build links next to each other (crates/cli/build.rs). Run it after
# changes to what those commands run; names that went stale are skipped at
# link time, so an old list costs speed, never correctness.
#
# First come the ifunc resolvers of the static C library, which every start
# runs (its IRELATIVE relocations) and no profile sees; then what a monitor
# runs for as long as its container does; then what samples and page
# faults of the commonest commands find, over PASSES profiles: a profile sees a function
# only through a sample or the first fault on its page, so each pass, linked
# with the list so far, finds functions the previous order hid.
#
#   scripts/symbol-order.sh      # RUNS=N rounds of the workload (default 150), PASSES=N (default 3)
#
# Needs root and perf (apt-get install linux-perf); builds the release
# (whose symbols the profile reads: Cargo.toml keeps them); talks to no
# network.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-150}
PASSES=${PASSES:-3}
die() { echo "symbol-order: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
command -v perf >/dev/null || die "missing perf (apt-get install linux-perf)"

bin=$repo/target/x86_64-unknown-linux-gnu/release
order=$repo/crates/cli/symbol-order.txt

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
cargo build --release -p berth-cli --manifest-path "$repo/Cargo.toml" >&2
$B import -q "$work/bb.tar" bb >/dev/null
# The resolvers of the IRELATIVE relocations of berth's binaries, by name.
resolvers() {
    for b in "$bin/berth" "$bin/berth-monitor"; do
        nm --defined-only "$b" >"$work/nm"
        readelf -rW "$b" | awk -v nm="$work/nm" '
            BEGIN { while ((getline l < nm) > 0) { split(l, f, " "); if (f[2] ~ /[tTiW]/ && !(f[1] in name)) name[f[1]] = f[3] } }
            $3 == "R_X86_64_IRELATIVE" { a = sprintf("%016s", $4); gsub(/ /, "0", a); if (a in name) print name[a] }'
    done
}
# The functions a monitor runs once its container is up and it gave back
# its start-up's pages (`sys::memory::release_unused`, after a second):
# copying output to the log. Linked together, a long-lived monitor keeps
# few code pages resident.
steady() {
    local id pid monitor
    id=$($B run -d --network none bb sh -c 'while :; do echo x; sleep 0.02; done')
    pid=$($B inspect -f '{{.State.Pid}}' "$id")
    monitor=$(awk '{print $4}' "/proc/$pid/stat")
    sleep 1.5
    perf record -q -o "$work/steady.data" -e cpu-clock/freq=20000/ -e page-faults/period=1/ -p "$monitor" -- sleep 2 \
        >/dev/null 2>&1
    $B rm -f -t 0 "$id" >/dev/null
    symbols "$work/steady.data"
}
# The functions of berth's binaries that samples or page faults landed in,
# first ones first.
symbols() {
    perf script -i "$1" --no-demangle -F ip,sym,dso 2>/dev/null |
        awk -v b="($bin/berth)" -v m="($link)" '($NF == b || $NF == m) && $2 != "[unknown]" {
            sub(/\+0x[0-9a-f]+$/, "", $2); print $2 }'
}
# Those of the commonest commands (without a network, as bench/containers.sh
# measures them: no bridge of the profile's left on the host).
profile() {
    perf record -q -a -o "$work/perf.data" -e cpu-clock/freq=20000/ -e page-faults/period=1/ -- sh -c "
        for i in \$(seq $RUNS); do
            $B run --rm --network none bb true
            id=\$($B run -d --network none bb sleep 60)
            $B ps -a
            $B rm -f -t 0 \$id
            $B rm \$($B create --network none bb true)
            $B images
        done" >/dev/null 2>&1
    symbols "$work/perf.data"
}
for pass in $(seq "$PASSES"); do
    [ "$pass" = 1 ] || cargo build --release -p berth-cli --manifest-path "$repo/Cargo.toml" >&2
    # What this pass saw merged with what the earlier ones did, each once:
    # the resolvers, then the steady monitor's, then the commands'.
    { resolvers; steady; [ ! -e "$work/list" ] || cat "$work/list"; profile; } >"$work/new"
    awk '!seen[$0]++' "$work/new" >"$order"
    cp "$order" "$work/list"
    echo "symbol-order: pass $pass: $(wc -l <"$order") functions in crates/cli/symbol-order.txt" >&2
done
cargo build --release -p berth-cli --manifest-path "$repo/Cargo.toml" >&2
