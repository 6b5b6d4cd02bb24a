#!/usr/bin/env bash
# Build benchmark: berth build against buildah (Debian's), the same
# Containerfiles and context, in one hyperfine run each:
#   - a representative build: FROM busybox, two RUN steps, COPY of 1,000
#     small files and of one 50 MB file, ENV, CMD; without cache
#     (--no-cache), and a fully cached rebuild;
#   - a two-stage build whose stages are independent (--jobs 2 for both).
# Prints the medians and berth/buildah ratios (target: <= 0.5 each).
#
#   bash bench/build.sh     # RUNS=N (default 5), WARMUP=N (default 1)
#
# Needs root, hyperfine, buildah, podman (to import the base image into
# buildah's store), jq; installs nothing; no network (RUN steps run with
# --network none on both sides). Each tool has its own store under a
# tempdir and its runroot on a tmpfs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in hyperfine buildah podman jq /bin/busybox; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install hyperfine buildah podman jq busybox-static)"
done
berth=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
[ -x "$berth" ] || die "missing $berth: run 'cargo build --release -p berth-cli' first"
peers=$repo/../shared/peers/podman-env.sh
# shellcheck disable=SC1090
[ -f "$peers" ] && . "$peers"

work=$(mktemp -d /var/tmp/berth-bench-build.XXXXXX)
run=$work/run
mkdir "$run"
mount -t tmpfs -o mode=0700,size=256m berth-bench "$run"
printf '[containers]\nnetns = "none"\n[network]\nnetwork_dir = "%s"\nnetwork_run_dir = "%s"\n' \
    "$work/b/networks" "$run/b-networks" >"$work/berth.conf"
export BERTH_CONFIG=$work/berth.conf
B="$berth --root $work/b/root --runroot $run/b"
H="buildah --root $work/h/root --runroot $run/h --storage-driver overlay"
P="podman --root $work/h/root --runroot $run/h --storage-driver overlay"
cleanup() {
    $B rm -af -t 0 >/dev/null 2>&1 || true
    $H rm -a >/dev/null 2>&1 || true
    findmnt -rn -o TARGET | awk -v d="$work" 'index($0, d) == 1' | sort -r | xargs -r umount -l 2>/dev/null || true
    umount "$run" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The base image: busybox.
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/"
for a in sh true echo cat wc dd; do ln -s busybox "$root/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
tar -C "$root" -cf "$work/img.tar" .
$B import -q "$work/img.tar" localhost/bb >/dev/null
$P import -q "$work/img.tar" localhost/bb >/dev/null

# The context: 1,000 small files and one of 50 MB.
ctx=$work/ctx
mkdir -p "$ctx/files"
for i in $(seq 1000); do printf 'file %d\n' "$i" >"$ctx/files/f$i.txt"; done
head -c 50M /dev/urandom >"$ctx/big"
cat >"$ctx/Containerfile" <<'EOF'
FROM localhost/bb
RUN echo one > /one
COPY files /files
COPY big /big
RUN wc -c /big > /size
ENV X=1
CMD ["sh"]
EOF
cat >"$ctx/Stages" <<'EOF'
FROM localhost/bb AS a
RUN dd if=/dev/zero of=/a bs=1M count=20 2>/dev/null
COPY files /files-a
FROM localhost/bb AS b
RUN dd if=/dev/zero of=/b bs=1M count=20 2>/dev/null
COPY files /files-b
FROM localhost/bb
COPY --from=a /a /a
COPY --from=b /b /b
EOF
$B build -q --no-cache -t warm "$ctx" >/dev/null || die "berth build failed"
$H bud -q --network none --layers --no-cache -t warm "$ctx" >/dev/null || die "buildah bud failed"
sync

hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --export-json "$work/build.json" \
    -n "berth no-cache" "$B build -q --no-cache -t t $ctx" \
    -n "buildah no-cache" "$H bud -q --network none --layers --no-cache -t t $ctx" \
    -n "berth cached" "$B build -q -t t $ctx" \
    -n "buildah cached" "$H bud -q --network none --layers -t t $ctx" \
    -n "berth two-stage" "$B build -q --no-cache --jobs 2 -f $ctx/Stages -t s $ctx" \
    -n "buildah two-stage" "$H bud -q --network none --layers --no-cache --jobs 2 -f $ctx/Stages -t s $ctx" >&2

median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$work/build.json"; }
printf '\n%-24s %10s %10s %8s\n' "median" "berth" "buildah" "ratio"
for what in "no-cache" "cached" "two-stage"; do
    b=$(median "berth $what")
    h=$(median "buildah $what")
    printf '%-24s %7.0f ms %7.0f ms %8.2f\n' "$what" "$b" "$h" "$(echo "$b / $h" | bc -l)"
done
