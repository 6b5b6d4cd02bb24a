#!/usr/bin/env bash
# Container benchmark: `berth run --rm --network none` vs `podman run --rm --network none`
# (the same work: an empty network namespace; bench/network.sh measures networks) on the same
# busybox image, in one hyperfine run, plus `create` + `rm`, `run -d` + `rm -f`, the bare
# `berth-runtime run` of the same rootfs (what the monitor costs; also given the config
# berth writes for the container, to tell berth's own cost from its config's), and the RSS of berth's
# monitor next to conmon's for a running container; then, with MANY (default 200)
# detached `sleep` containers running on each side, `ps` (median) and the RSS of the
# monitors and conmons averaged over all of them.
#
#   bash bench/containers.sh     # RUNS=N (default 30), WARMUP=N (default 5), MANY=N (0: skip)
#
# Needs root; installs nothing; talks to no network. Each tool gets its own store in a
# tempdir on the host's disk, and its runroot (the bare runtime its state root) on a
# tmpfs, as /run is on a host (RUNROOT_ON_DISK=1: on the disk too).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
MANY=${MANY:-200}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine podman jq /bin/busybox; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install hyperfine podman jq busybox-static)"
done
berth=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
[ -x "$berth" ] || die "missing $berth: run 'cargo build --release -p berth-cli' first"
runtime=${BERTH_RUNTIME:-$repo/target/x86_64-unknown-linux-gnu/release/berth-runtime}
[ -x "$runtime" ] || die "missing $runtime: run 'cargo build --release -p berth-runtime' first"
peers=$repo/../shared/peers/podman-env.sh
# podman's default rlimits fail on these machines; the peers' env fixes that (see its README).
# shellcheck disable=SC1090
[ -f "$peers" ] && . "$peers"

work=$(mktemp -d /var/tmp/berth-bench-ctr.XXXXXX)
# The runroots on a tmpfs, where a host keeps them (/run; this VM's /run is on
# its disk, which would charge every tool for inodes a host never writes).
run=$work/run
mkdir "$run"
[ -n "${RUNROOT_ON_DISK:-}" ] || mount -t tmpfs -o mode=0700,size=256m berth-bench "$run"
cleanup() {
    "$berth" --root "$work/b/root" --runroot "$run/b" rm -af -t 0 >/dev/null 2>&1 || true
    podman --root "$work/p/root" --runroot "$run/p" rm -af -t 0 >/dev/null 2>&1 || true
    podman --root "$work/p/root" --runroot "$run/p" unmount -a >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d) == 1' | sort -r | xargs -r umount -l 2>/dev/null || true
    umount "$run" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/rootfs/bin" "$work/rootfs/etc"
cp /bin/busybox "$work/rootfs/bin/"
for a in sh true echo sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"
echo 'root:x:0:' >"$work/rootfs/etc/group"
tar -C "$work/rootfs" -cf "$work/bb.tar" .

B="$berth --root $work/b/root --runroot $run/b"
P="podman --root $work/p/root --runroot $run/p"
$B import -q "$work/bb.tar" bb >/dev/null
$P import -q "$work/bb.tar" bb >/dev/null
# Sanity: both run it.
[ "$($B run --rm --network none bb echo ok)" = ok ] || die "berth run failed"
[ "$($P run --rm --network none bb echo ok)" = ok ] || die "podman run failed"

# The bare runtime on the same rootfs: a bundle whose rootfs is the busybox tree.
sh "$repo/scripts/mkbundle.sh" "$work/bundle" "$runtime" >/dev/null
jq '.process.args = ["/bin/true"]' "$work/bundle/config.json" >"$work/bundle/c.json"
mv "$work/bundle/c.json" "$work/bundle/config.json"
R="$runtime --root $run/rt"
$R run --bundle "$work/bundle" sanity || die "berth-runtime run failed"
# The bare runtime again, with the very config berth gives the container
# (seccomp profile, /etc files, limits): what berth adds around its runtime,
# apart from what its containers are given.
cid=$($B create --name bench-config --network none bb true)
mkdir "$work/bundle2"
cp -a "$work/b/root/container-data/$cid/." "$run/b/userdata/$cid/." "$work/bundle2/"
$B rm bench-config >/dev/null
jq --arg rootfs "$work/bundle/rootfs" --arg dir "$work/bundle2" \
    '.root.path = $rootfs | .linux.cgroupsPath = "/berth-bench-bare"
     | .mounts |= map(if .type == "bind" then .source = ($dir + "/" + (.source | split("/") | last)) else . end)' \
    "$work/bundle2/config.json" >"$work/c2.json"
mv "$work/c2.json" "$work/bundle2/config.json"
$R run --bundle "$work/bundle2" sanity2 || die "berth-runtime run of berth's config failed"

# The setup's writes reach the disk before the timing, not during it.
sync
# berth and the bare runtime one after the other, before podman: podman's runs
# leave seconds of work behind them (its cleanup processes, namespaces torn
# down), which made the ratio to the bare runtime depend on what it hit.
hyperfine -N ${SHOW:+--show-output} --runs "$RUNS" --warmup "$WARMUP" --export-json "$work/run.json" \
    -n "berth run --rm" "$B run --rm --network none bb true" \
    -n "berth-runtime run" "$R run --bundle $work/bundle bench" \
    -n "berth-runtime run, berth's config" "$R run --bundle $work/bundle2 bench2" \
    -n "podman run --rm" "$P run --rm --network none bb true" \
    -n "berth create+rm" "sh -c '$B rm \$($B create --network none bb true) >/dev/null'" \
    -n "podman create+rm" "sh -c '$P rm \$($P create --network none bb true) >/dev/null'" \
    -n "berth run -d+rm -f" "sh -c '$B rm -f -t 0 \$($B run -d --network none bb sleep 60) >/dev/null'" \
    -n "podman run -d+rm -f" "sh -c '$P rm -f -t 0 \$($P run -d --network none bb sleep 60) >/dev/null'" >&2

median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$work/run.json"; }
printf '\n%-22s %10s %10s %8s\n' "median" "berth" "podman" "ratio"
for what in run create+rm run-d+rm-f; do
    case $what in
        run) b="berth run --rm" p="podman run --rm" ;;
        create+rm) b="berth create+rm" p="podman create+rm" ;;
        *) b="berth run -d+rm -f" p="podman run -d+rm -f" ;;
    esac
    bm=$(median "$b")
    pm=$(median "$p")
    printf '%-22s %8.1f ms %8.1f ms %8.2f\n' "$what" "$bm" "$pm" "$(echo "$bm / $pm" | bc -l)"
done
rm_ms=$(median "berth-runtime run")
printf '%-22s %8.1f ms %8.1f ms %8.2f  (berth run --rm / bare berth-runtime run)\n' "monitor overhead" \
    "$(median "berth run --rm")" "$rm_ms" "$(echo "$(median "berth run --rm") / $rm_ms" | bc -l)"
same_ms=$(median "berth-runtime run, berth's config")
printf '%-22s %8.1f ms %8.1f ms %8.2f  (the same, the runtime given berth'"'"'s config)\n' "berth's own overhead" \
    "$(median "berth run --rm")" "$same_ms" "$(echo "$(median "berth run --rm") / $same_ms" | bc -l)"

# Memory of the process that stays with a running container: berth's monitor
# (the parent of the container's init) and podman's conmon.
bid=$($B run -d --network none bb sleep 60)
pid=$($B ps --no-trunc --format '{{.ID}} {{.Pid}}' | awk -v id="$bid" '$1 == id {print $2}')
monitor=$(awk '{print $4}' "/proc/$pid/stat")
pidp=$($P run -d --network none bb sleep 60)
conmon=$($P inspect --format '{{.State.ConmonPid}}' "$pidp")
# Both settle after their first second (berth's monitor then gives back what
# it does not need): read them once they have.
sleep 2
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
printf '%-22s %7s KiB %7s KiB %8.2f\n' "RSS monitor/conmon" "$(rss "$monitor")" "$(rss "$conmon")" \
    "$(echo "$(rss "$monitor") / $(rss "$conmon")" | bc -l)"
$B rm -f -t 0 "$bid" >/dev/null
$P rm -f -t 0 "$pidp" >/dev/null

# --- MANY detached containers on each side: `ps` reads every record (berth:
# SQLite rows and a liveness check each; podman: its database and conmon), and
# every container keeps a monitor (conmon) resident.
[ "$MANY" -gt 0 ] || exit 0
echo "starting $MANY detached containers on each side..." >&2
for _ in $(seq "$MANY"); do $B run -d --network none bb sleep 3600 >/dev/null; done
for _ in $(seq "$MANY"); do $P run -d --network none --pull=never localhost/bb sleep 3600 >/dev/null; done
[ "$($B ps -q | wc -l)" = "$MANY" ] || die "berth ps does not list $MANY containers"
[ "$($P ps -q | wc -l)" = "$MANY" ] || die "podman ps does not list $MANY containers"
hyperfine -N --runs "$RUNS" --warmup 3 --export-json "$work/ps.json" \
    -n "berth ps" "$B ps" -n "podman ps" "$P ps" >&2
psmedian() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$work/ps.json"; }
bm=$(psmedian "berth ps")
pm=$(psmedian "podman ps")
printf '%-22s %8.1f ms %8.1f ms %8.2f\n' "ps, $MANY running" "$bm" "$pm" "$(echo "$bm / $pm" | bc -l)"
# Average VmRSS of the resident helper per container: berth's monitors (the
# parents of the containers' inits), podman's conmons.
mean_rss() { awk '/^VmRSS/ {s += $2; n++} END {if (n) printf "%.0f", s / n}' "$@"; }
monitors=$($B ps --format '{{.Pid}}' | while read -r p; do echo "/proc/$(awk '{print $4}' "/proc/$p/stat")/status"; done)
conmons=$($P ps -q | xargs $P inspect --format '{{.State.ConmonPid}}' | sed 's|.*|/proc/&/status|')
# shellcheck disable=SC2086
bk=$(mean_rss $monitors)
# shellcheck disable=SC2086
pk=$(mean_rss $conmons)
printf '%-22s %7s KiB %7s KiB %8.2f\n' "RSS per container" "$bk" "$pk" "$(echo "$bk / $pk" | bc -l)"
$B rm -af -t 0 >/dev/null
$P rm -af -t 0 >/dev/null
