#!/usr/bin/env bash
# Network benchmark: what a container's network costs a `run --rm`, berth
# against podman on their default networks (bridge, NAT), in one hyperfine
# run; then TCP throughput through a published port, container to host,
# with iperf3 (the container's iperf3 sends: `iperf3 -c ... -R` from the host).
#
#   bash bench/network.sh     # RUNS=N (default 30), WARMUP=N (default 5), SECONDS_TCP=N (default 5),
#                             # ROUNDS_TCP=N (default 3: interleaved, medians compared)
#
# Needs root, hyperfine, podman, iperf3, jq; installs nothing; talks to no
# network. Everything runs in a network namespace of the bench's own (both
# tools' bridges, firewall rules and published ports live and die there),
# each tool with its own store in a tempdir and its runroot on a tmpfs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
SECONDS_TCP=${SECONDS_TCP:-5}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine podman jq iperf3 nsenter /bin/busybox; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install hyperfine podman jq iperf3 busybox-static)"
done
berth=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
[ -x "$berth" ] || die "missing $berth: run 'cargo build --release -p berth-cli' first"
peers=$repo/../shared/peers/podman-env.sh
# shellcheck disable=SC1090
[ -f "$peers" ] && . "$peers"

work=$(mktemp -d /var/tmp/berth-bench-net.XXXXXX)
ns=berth-bench-$$
ip netns add "$ns"
ip -n "$ns" link set lo up
N="nsenter --net=/run/netns/$ns"
run=$work/run
mkdir "$run"
mount -t tmpfs -o mode=0700,size=256m berth-bench "$run"
# berth's network records and addresses of its own (berth.conf), as
# podman's below: nothing of the host's is used.
printf '[network]\nnetwork_dir = "%s"\nnetwork_run_dir = "%s"\n' "$work/b/networks" "$run/b-networks" >"$work/berth.conf"
export BERTH_CONFIG=$work/berth.conf
B="$N $berth --root $work/b/root --runroot $run/b"
# podman's network configs of its own too: nothing of the host's is used.
mkdir -p "$work/cni"
P="$N podman --root $work/p/root --runroot $run/p --network-config-dir $work/cni"
cleanup() {
    $B rm -af -t 0 >/dev/null 2>&1 || true
    $P rm -af -t 0 >/dev/null 2>&1 || true
    $P unmount -a >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d) == 1' | sort -r | xargs -r umount -l 2>/dev/null || true
    umount "$run" 2>/dev/null || true
    ip netns delete "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The image: busybox, plus iperf3 and the libraries it loads.
root=$work/rootfs
# (iperf3 keeps its buffers in a file under /tmp.)
mkdir -p "$root/bin" "$root/etc" "$root/lib64" "$root/tmp"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/"
for a in sh true echo sleep; do ln -s busybox "$root/bin/$a"; done
cp /usr/bin/iperf3 "$root/bin/"
for lib in $(ldd /usr/bin/iperf3 | awk '$3 ~ /^\// {print $3} $1 ~ /^\/lib64/ {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
tar -C "$root" -cf "$work/img.tar" .
$B import -q "$work/img.tar" bb >/dev/null
$P import -q "$work/img.tar" bb >/dev/null
[ "$($B run --rm --network bridge bb echo ok)" = ok ] || die "berth run on its default network failed"
[ "$($P run --rm bb echo ok)" = ok ] || die "podman run on its default network failed"
sync

hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$work/run.json" \
    -n "berth run --rm (none)" "$B run --rm --network none bb true" \
    -n "berth run --rm (bridge)" "$B run --rm --network bridge bb true" \
    -n "podman run --rm (none)" "$P run --rm --network none bb true" \
    -n "podman run --rm (bridge)" "$P run --rm bb true" >&2

median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$work/run.json"; }
bn=$(median "berth run --rm (none)")
bb=$(median "berth run --rm (bridge)")
pn=$(median "podman run --rm (none)")
pb=$(median "podman run --rm (bridge)")
printf '\n%-28s %10s %10s %8s\n' "median" "berth" "podman" "ratio"
printf '%-28s %8.1f ms %8.1f ms %8.2f\n' "run --rm, no network" "$bn" "$pn" "$(echo "$bn / $pn" | bc -l)"
printf '%-28s %8.1f ms %8.1f ms %8.2f\n' "run --rm, default network" "$bb" "$pb" "$(echo "$bb / $pb" | bc -l)"
printf '%-28s %8.1f ms %8.1f ms\n' "the network's own cost" "$(echo "$bb - $bn" | bc -l)" "$(echo "$pb - $pn" | bc -l)"

# Throughput: an iperf3 server in a container, its port published; the
# host's client asks it to send (-R), through the DNAT to the container.
throughput() { # CMD PORT
    local cmd=$1 port=$2 id
    id=$($cmd run -d -p "$port:5201" bb iperf3 -s -1)
    sleep 1
    $N iperf3 -c 127.0.0.1 -p "$port" -R -t "$SECONDS_TCP" -J | jq '.end.sum_received.bits_per_second / 1e9'
    $cmd rm -f -t 0 "$id" >/dev/null
}
# Interleaved rounds (berth, podman, berth, ...): the machine's drift hits
# both alike; the medians compare.
ROUNDS=${ROUNDS_TCP:-3}
med() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
bs=() ps=()
for r in $(seq "$ROUNDS"); do
    bs+=("$(throughput "$B" $((15200 + 2 * r)))")
    ps+=("$(throughput "$P" $((15201 + 2 * r)))")
done
bt=$(printf '%s\n' "${bs[@]}" | med)
pt=$(printf '%s\n' "${ps[@]}" | med)
echo "TCP rounds (Gb/s): berth ${bs[*]}; podman ${ps[*]}" >&2
printf '%-28s %7.2f Gb/s %6.2f Gb/s %8.2f\n' "TCP, container to host" "$bt" "$pt" "$(echo "$bt / $pt" | bc -l)"
