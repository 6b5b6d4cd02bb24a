#!/usr/bin/env bash
# System benchmark: `berth info` vs `podman info` and `berth system df` vs `podman system df`
# on stores holding IMAGES (default 100) images and CONTAINERS (default 200) created
# containers, in one hyperfine run; prints medians and ratios (target: <= 0.5).
#
#   bash bench/system.sh     # RUNS=N (default 20), WARMUP=N (default 3), IMAGES=N, CONTAINERS=N
#
# The images are one busybox layer imported IMAGES times with a distinct label each
# (distinct image IDs sharing their layer: df must count it once); the containers are
# created (not started) from them round robin. Needs root; installs nothing; talks to no
# network. Each tool gets its own store in a tempdir on the host's disk, its runroot on a
# tmpfs, as bench/containers.sh does.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
IMAGES=${IMAGES:-100}
CONTAINERS=${CONTAINERS:-200}
die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine podman jq bc /bin/busybox; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install hyperfine podman jq bc busybox-static)"
done
berth=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
[ -x "$berth" ] || die "missing $berth: run 'cargo build --release -p berth-cli' first"
peers=$repo/../shared/peers/podman-env.sh
# shellcheck disable=SC1090
[ -f "$peers" ] && . "$peers"
work=$(mktemp -d /var/tmp/berth-bench-system.XXXXXX)
run=$work/run
mkdir "$run"
mount -t tmpfs -o mode=0700,size=256m berth-bench "$run"
# berth's own config: no network state of the host's touched.
cat >"$work/berth.conf" <<CONF
[containers]
netns = "none"
[network]
network_dir = "$work/networks"
network_run_dir = "$run/netrun"
CONF
export BERTH_CONFIG=$work/berth.conf
B="$berth --root $work/b/root --runroot $run/b"
P="podman --root $work/p/root --runroot $run/p"
cleanup() {
    $B rm -af -t 0 >/dev/null 2>&1 || true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    $P unmount -a >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d) == 1' | sort -r | xargs -r umount -l 2>/dev/null || true
    umount "$run" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true echo sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
tar -C "$work/rootfs" -cf "$work/bb.tar" .
echo "making $IMAGES images and $CONTAINERS containers on each side..." >&2
for i in $(seq "$IMAGES"); do
    $B import -q --change "LABEL n=$i" "$work/bb.tar" "img$i" >/dev/null
    $P import -q --change "LABEL n=$i" "$work/bb.tar" "img$i" >/dev/null
done
for i in $(seq "$CONTAINERS"); do
    img=img$(((i - 1) % IMAGES + 1))
    $B create -q --network none "$img" true >/dev/null
    $P create -q --network none --pull=never "localhost/$img" true >/dev/null
done
[ "$($B images -q | wc -l)" = "$IMAGES" ] || die "berth images does not list $IMAGES images"
[ "$($P images -q | wc -l)" = "$IMAGES" ] || die "podman images does not list $IMAGES images"
[ "$($B ps -aq | wc -l)" = "$CONTAINERS" ] || die "berth ps does not list $CONTAINERS containers"
[ "$($P ps -aq | wc -l)" = "$CONTAINERS" ] || die "podman ps does not list $CONTAINERS containers"
$B system df >&2
$P system df >&2
sync
hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$work/system.json" \
    -n "berth info" "$B info" -n "podman info" "$P info" \
    -n "berth system df" "$B system df" -n "podman system df" "$P system df" >&2
median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$work/system.json"; }
printf '\n%-22s %10s %10s %8s\n' "median" "berth" "podman" "ratio"
for what in info "system df"; do
    bm=$(median "berth $what")
    pm=$(median "podman $what")
    printf '%-22s %8.1f ms %8.1f ms %8.2f\n' "$what" "$bm" "$pm" "$(echo "$bm / $pm" | bc -l)"
done
