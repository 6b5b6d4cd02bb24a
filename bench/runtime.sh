#!/usr/bin/env bash
# Runtime start-up benchmark: berth-runtime (release build) vs runc vs crun on one busybox bundle.
#
#   bash bench/runtime.sh            # from anywhere; RUNS=N to change hyperfine's run count
#
# (a) `run` of /bin/true (each runtime with its own --root; `run` deletes the container itself)
# (b) create + start + delete of a /bin/true container (one small shell command per iteration)
# plus peak RSS of each runtime's `run` (/usr/bin/time -f %M, median of RSS_RUNS).
# crun 1.8 refuses this host's hybrid cgroups, so it runs as the peers run it: in a private mount
# namespace with /sys/fs/cgroup/unified unmounted (../shared/peers/crun-nsw, or the same inline).
# Needs root; installs nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
RSS_RUNS=${RSS_RUNS:-11}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (runtimes create namespaces and cgroups)"
for t in hyperfine runc crun jq unshare /usr/bin/time /bin/busybox; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install hyperfine runc crun jq util-linux time busybox-static)"
done
berth=$repo/target/x86_64-unknown-linux-gnu/release/berth-runtime
[ -x "$berth" ] || die "missing $berth: run 'cargo build --release' first"

work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
# State roots on tmpfs, where runtimes keep them in real use (/run/runc, /run/crun, ...).
roots=$(mktemp -d /run/berth-bench.XXXXXX)
cleanup() {
    for r in berth runc; do
        for id in $(ls "$roots/root-$r" 2>/dev/null); do "$(rt_bin "$r")" --root "$roots/root-$r" delete -f "$id" >/dev/null 2>&1 || true; done
    done
    rm -rf "$work" "$roots"
}
rt_bin() { case $1 in berth) echo "$berth" ;; runc) echo runc ;; esac; }
trap cleanup EXIT

# crun: the peers' wrapper if present (path relative to the repo), else the same thing inline.
if [ -x "$repo/../shared/peers/crun-nsw" ]; then
    crun_cmd="$(cd "$repo/../shared/peers" && pwd)/crun-nsw"
else
    crun_cmd="$work/crun-nsw"
    cat > "$crun_cmd" <<'EOF'
#!/bin/sh
exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"' crun "$@"
EOF
    chmod +x "$crun_cmd"
fi

bundle=$work/bundle
sh "$repo/scripts/mkbundle.sh" "$bundle" "$berth" >/dev/null
# crun 1.8 refuses ociVersion 1.2.0 ("unknown version specified"): use one every runtime takes.
jq '.process.args = ["/bin/true"] | .ociVersion = "1.0.2"' "$bundle/config.json" > "$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
mkdir -p "$roots/root-berth" "$roots/root-runc" "$roots/root-crun"

declare -A RT=([berth]="$berth" [runc]=runc [crun]="$crun_cmd")
names=(berth crun runc)

# Sanity: every runtime runs the bundle and returns true's status.
for r in "${names[@]}"; do
    ${RT[$r]} --root "$roots/root-$r" run --bundle "$bundle" "check-$r" </dev/null >/dev/null 2>"$work/err" ||
        die "$r cannot run the bundle: $(cat "$work/err")"
done

echo "berth-runtime: $("$berth" --version 2>/dev/null | head -1); $(runc --version | head -1); $(crun --version | head -1)"
echo "kernel $(uname -r), $(nproc) cpus; $RUNS runs after $WARMUP warm-up runs each"
echo

hf() { # name json cmd...
    local out=$1 json=$2
    shift 2
    hyperfine -N --style basic --runs "$RUNS" --warmup "$WARMUP" --export-json "$json" "$@" >"$out" 2>&1 ||
        { cat "$out" >&2; die "hyperfine failed"; }
}

# (a) run of /bin/true. `run` deletes the container when it exits, so one id serves every iteration.
cmds=()
for r in "${names[@]}"; do
    cmds+=(-n "$r" "${RT[$r]} --root $roots/root-$r run --bundle $bundle bench-$r")
done
# What the namespace wrapper alone costs (unshare + sh + umount, exec'ing /bin/true).
cmds+=(-n nsw "unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec /bin/true'")
echo "(a) run /bin/true ..."
hf "$work/run.txt" "$work/run.json" "${cmds[@]}"

# (b) create + start + delete, as one small shell command per iteration.
cat > "$work/csd.sh" <<'EOF'
#!/bin/sh
# csd.sh RUNTIME-COMMAND ROOT BUNDLE ID
rt=$1 root=$2 bundle=$3 id=$4
$rt --root "$root" create --preserve-fds 0 --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1 || exit 1
$rt --root "$root" start "$id" || exit 1
$rt --root "$root" delete --force "$id" || exit 1
EOF
chmod +x "$work/csd.sh"
cmds=()
for r in berth runc; do
    cmds+=(-n "$r" "$work/csd.sh ${RT[$r]} $roots/root-$r $bundle csd-$r")
done
# crun: the three commands share one private mount namespace per iteration (one wrapper, not three).
cat > "$work/csd-crun.sh" <<EOF
#!/bin/sh
exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "\$@"' sh \
    $work/csd.sh crun $roots/root-crun $bundle csd-crun
EOF
chmod +x "$work/csd-crun.sh"
cmds+=(-n crun "$work/csd-crun.sh")
echo "(b) create + start + delete ..."
hf "$work/csd.txt" "$work/csd.json" "${cmds[@]}"

median_ms() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1000' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Peak RSS of `run` (KiB). crun is measured inside the private mount namespace so the figure is
# crun's own, not unshare's or sh's.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rss() {
    local r=$1 i
    for i in $(seq "$RSS_RUNS"); do
        if [ "$r" = crun ]; then
            unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null;
                /usr/bin/time -f %M -o "$1" crun --root "$2" run --bundle "$3" rss-crun </dev/null >/dev/null 2>&1' \
                sh "$work/rss" "$roots/root-crun" "$bundle"
        else
            /usr/bin/time -f %M -o "$work/rss" ${RT[$r]} --root "$roots/root-$r" run --bundle "$bundle" "rss-$r" \
                </dev/null >/dev/null 2>&1
        fi
        tail -1 "$work/rss"
    done | median
}
echo "peak RSS ..."
declare -A RSS
for r in "${names[@]}"; do RSS[$r]=$(rss "$r"); done

echo
printf '%-34s %10s %10s %10s %12s %12s\n' "median (ms)" berth crun runc berth/crun berth/runc
for t in run csd; do
    label=$([ $t = run ] && echo "(a) run /bin/true" || echo "(b) create+start+delete")
    b=$(median_ms "$work/$t.json" berth) c=$(median_ms "$work/$t.json" crun) u=$(median_ms "$work/$t.json" runc)
    printf '%-34s %10.2f %10.2f %10.2f %12s %12s\n' "$label" "$b" "$c" "$u" "$(ratio "$b" "$c")" "$(ratio "$b" "$u")"
done
w=$(median_ms "$work/run.json" nsw) b=$(median_ms "$work/run.json" berth) c=$(median_ms "$work/run.json" crun)
printf '%-34s %10s %10.2f %10s %12s\n' "(a) crun minus wrapper overhead" "" "$(awk -v c="$c" -v w="$w" 'BEGIN{print c-w}')" "" \
    "$(awk -v b="$b" -v c="$c" -v w="$w" 'BEGIN { printf "%.2f", b / (c - w) }')"
printf '%-34s %10s %10s %10s %12s %12s\n' "peak RSS of run (KiB, median)" "${RSS[berth]}" "${RSS[crun]}" "${RSS[runc]}" \
    "$(ratio "${RSS[berth]}" "${RSS[crun]}")" "$(ratio "${RSS[berth]}" "${RSS[runc]}")"
echo
echo "targets: berth <= 0.80 x crun on (a) and (b); berth RSS <= crun RSS"
echo "note: crun's times include unshare + sh + umount of the namespace wrapper it needs on this host"
