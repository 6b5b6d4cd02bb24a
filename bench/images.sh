#!/usr/bin/env bash
# Image benchmark: berth vs podman (and skopeo) on a realistic multi-layer image.
#
#   bash bench/images.sh         # RUNS=N (default 5), WARMUP=N (default 1)
#   BENCH_EXPORT=DIR             # also copy the OCI layout and both saved archives to DIR
#   BENCH_ONLY=pull|save|load    # time only that part (e.g. RUNS=15 BENCH_ONLY=pull for a stable pull median)
#   BERTH_BASE=PATH              # also time the pull and load of another berth binary (before/after in one run)
#
# Noise: this script's own cleanup deletes ~100k files at exit, and for a minute or so after
# that, creating files on this (journal-less ext4) filesystem is up to 2x slower (see discard()
# below); back-to-back runs, or a CI run deleting files meanwhile, skew whatever runs first.
# Compare medians of RUNS>=10 from one run (BERTH_BASE for before/after), not across runs.
#
# Builds a ~100 MB, 4-layer OCI image locally (busybox base; thousands of 1-8 KiB files;
# large incompressible and compressible files; a small top layer with a whiteout), pushes it
# with skopeo to a docker-registry it starts on a free 127.0.0.1 port (own storage dir), then
# times, in one hyperfine run:
#   pull   cold (store wiped before each run): berth, podman, skopeo (into a fresh oci dir)
#   save   docker-archive to a file: berth vs podman (each from its own store)
#   load   of the podman-saved docker-archive (cold store each run): berth vs podman
# and prints medians and ratios. Needs root; installs nothing; only talks to 127.0.0.1.
# Until `berth pull` exists the berth pull is skipped (and berth's save store is filled by
# `berth load` of the podman archive instead).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
case "${BENCH_ONLY:-}" in "" | pull | save | load) ;; *) echo "bench: BENCH_ONLY must be pull, save or load" >&2; exit 2 ;; esac
WARMUP=${WARMUP:-1}

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (podman and berth unpack layers with owners and devices)"
for t in hyperfine podman skopeo docker-registry jq curl tar gzip sha256sum perl ss findmnt /bin/busybox; do
    command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install hyperfine podman skopeo docker-registry jq curl busybox-static)"
done
berth=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
[ -x "$berth" ] || die "missing $berth: run 'cargo build --release -p berth-cli' first"

# Unmount anything mounted below a directory (podman's overlay leaves mounts), deepest first.
unmount_below() {
    local d=$1
    [ -d "$d" ] || return 0
    findmnt -rn -o TARGET | awk -v d="$d" 'index($0, d) == 1' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
}
wipe_podman() { # root dir of a podman store (with run/ beside root/)
    if [ -d "$1/root" ]; then
        podman --root "$1/root" --runroot "$1/run" unmount -a >/dev/null 2>&1 || true
    fi
    unmount_below "$1"
    discard "$1"
}
# Stores are moved aside, not deleted, between runs: this host's ext4 has no journal, and
# creating files shortly after deleting thousands makes inode allocation scan every recently
# deleted inode (recently_deleted()), which would time the previous run's rm, not the tool.
discard() {
    [ -e "$1" ] || return 0
    mkdir -p "$(dirname "$1")/trash"
    mv "$1" "$(mktemp -u "$(dirname "$1")/trash/XXXXXXXX")"
}
case "${1:-}" in # used by hyperfine's --prepare
--wipe-podman) wipe_podman "$2"; exit 0 ;;
--discard) discard "$2"; exit 0 ;;
esac

work=$(mktemp -d /var/tmp/berth-bench-images.XXXXXX)
registry_pid=
cleanup() {
    set +e
    [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
    for p in "$work"/podman-*; do [ -e "$p" ] && wipe_podman "$p"; done
    unmount_below "$work"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- podman/skopeo configuration: the peers' settings, our own registries.conf ----
if [ -f "$repo/../shared/peers/podman-env.sh" ]; then
    # shellcheck disable=SC1091
    . "$repo/../shared/peers/podman-env.sh"
fi

# ---- a free loopback port and the registry ----
port=
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Hltn "sport = :$p" | grep -q .; then port=$p; break; fi
done
[ -n "$port" ] || die "no free port found"
reg=127.0.0.1:$port
cat > "$work/registries.conf" <<EOF
unqualified-search-registries = []
[[registry]]
location = "$reg"
insecure = true
EOF
export REGISTRIES_CONFIG_PATH=$work/registries.conf

mkdir -p "$work/registry"
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $reg
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://$reg/v2/" >/dev/null 2>&1 && break
    kill -0 "$registry_pid" 2>/dev/null || die "registry did not start: $(cat "$work/registry.log")"
    sleep 0.1
done
curl -fsS "http://$reg/v2/" >/dev/null || die "registry not answering on $reg"

# ---- build the image as an OCI layout ----
echo "building the image..."
oci=$work/oci
mkdir -p "$oci/blobs/sha256" "$work/layers"
layer_dirs=()
mk() { d=$work/layers/$1; mkdir -p "$d"; layer_dirs+=("$1"); }

# 1. base: busybox with applet links and a few system dirs
mk 1-base
mkdir -p "$d"/{bin,sbin,etc,tmp,root,var/log,usr/bin} && chmod 1777 "$d/tmp"
cp /bin/busybox "$d/bin/busybox"
for a in sh ls cat cp mv rm mkdir echo true false sed grep awk vi tar gzip wget env id; do ln -s busybox "$d/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$d/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$d/etc/group"

# 2. many small files: 6000 files of 1-8 KiB (text-like, compressible ~2x) in 60 dirs of 3 levels
mk 2-small
perl -e '
    srand(42);
    my $root = shift;
    my @words = map { join "", map { chr(97 + int(rand(26))) } 1 .. (2 + int(rand(9))) } 1 .. 4000;
    for my $a (0 .. 5) { for my $b (0 .. 9) {
        my $dir = "$root/usr/lib/pkg$a/mod$b";
        system("mkdir", "-p", $dir) == 0 or die;
        for my $f (0 .. 99) {
            my $size = 1024 + int(rand(7 * 1024));
            my $s = "";
            while (length($s) < $size) {
                $s .= $words[int(rand(@words))] . (rand() < 0.1 ? "\n" : " ");
                $s .= sprintf("%08x", int(rand(2**32))) if rand() < 0.05;
            }
            open(my $fh, ">", "$dir/file$f.py") or die; print $fh substr($s, 0, $size); close $fh;
        }
    } }
' "$d"

# 3. large files: 2 x 16 MiB random (incompressible) + 24 MiB of base64 text
mk 3-large
mkdir -p "$d/opt/app/data"
head -c $((16 << 20)) /dev/urandom > "$d/opt/app/data/model-a.bin"
head -c $((16 << 20)) /dev/urandom > "$d/opt/app/data/model-b.bin"
head -c $((18 << 20)) /dev/urandom | base64 -w 100 > "$d/opt/app/data/table.txt"

# 4. app layer: a few files, an overwrite and a whiteout of a file from layer 2
mk 4-app
mkdir -p "$d/opt/app" "$d/etc" "$d/usr/lib/pkg0/mod0"
printf '#!/bin/sh\necho hello\n' > "$d/opt/app/run.sh" && chmod 755 "$d/opt/app/run.sh"
echo "bench" > "$d/etc/hostname"
: > "$d/usr/lib/pkg0/mod0/.wh.file0.py"

diff_ids=() layer_descs=()
for l in "${layer_dirs[@]}"; do
    tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner --format=gnu \
        -C "$work/layers/$l" -cf "$work/layers/$l.tar" .
    diff_ids+=("sha256:$(sha256sum < "$work/layers/$l.tar" | cut -d' ' -f1)")
    gzip -n -6 < "$work/layers/$l.tar" > "$work/layers/$l.tar.gz"
    dg=$(sha256sum < "$work/layers/$l.tar.gz" | cut -d' ' -f1)
    mv "$work/layers/$l.tar.gz" "$oci/blobs/sha256/$dg"
    layer_descs+=("$(jq -cn --arg d "sha256:$dg" --argjson s "$(stat -c %s "$oci/blobs/sha256/$dg")" \
        '{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
    rm -f "$work/layers/$l.tar"
done
discard "$work/layers"
jq -cn --args '{
    created: "2023-11-14T22:13:20Z", architecture: "amd64", os: "linux",
    config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/bin/sh"], WorkingDir: "/"},
    rootfs: {type: "layers", diff_ids: $ARGS.positional},
    history: [$ARGS.positional[] | {created: "2023-11-14T22:13:20Z", created_by: "bench layer"}]
}' "${diff_ids[@]}" > "$work/config.json"
cfg=$(sha256sum < "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$oci/blobs/sha256/$cfg"
printf '%s\n' "${layer_descs[@]}" | jq -cs --arg c "sha256:$cfg" --argjson cs "$(stat -c %s "$oci/blobs/sha256/$cfg")" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
    layers: .
}' > "$work/manifest.json"
man=$(sha256sum < "$work/manifest.json" | cut -d' ' -f1)
man_size=$(stat -c %s "$work/manifest.json")
mv "$work/manifest.json" "$oci/blobs/sha256/$man"
echo '{"imageLayoutVersion":"1.0.0"}' > "$oci/oci-layout"
jq -cn --arg d "sha256:$man" --argjson s "$man_size" '{schemaVersion: 2, manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
    annotations: {"org.opencontainers.image.ref.name": "1"}}]}' > "$oci/index.json"
total=$(du -sb "$oci/blobs" | cut -f1)
echo "image: 4 layers, $((total >> 20)) MiB compressed; manifest sha256:$man"

image=$reg/bench:1
skopeo copy -q --dest-tls-verify=false "oci:$oci:1" "docker://$image" || die "skopeo push failed"

# ---- commands ----
B() { echo "$berth --root $work/$1/root --runroot $work/$1/run"; }
P() { echo "podman --root $work/$1/root --runroot $work/$1/run"; }

have_pull=1
if ! "$berth" pull --help >/dev/null 2>&1; then
    have_pull=0
    echo "NOTE: 'berth pull' is not available in $berth: skipping berth's pull benchmark"
fi

# Populate the stores used for save (and check every tool works once).
$(P podman-save) pull -q --tls-verify=false "$image" >/dev/null || die "podman pull failed"
$(P podman-save) save -q --format docker-archive -o "$work/podman.tar" "$image" || die "podman save failed"
if [ $have_pull = 1 ]; then
    $(B berth-save) pull -q --tls-verify=false "$image" >/dev/null 2>"$work/err" ||
        $(B berth-save) pull --tls-verify=false "$image" >/dev/null 2>"$work/err" ||
        die "berth pull failed: $(cat "$work/err")"
else
    $(B berth-save) load -q -i "$work/podman.tar" >/dev/null 2>"$work/err" || die "berth load failed: $(cat "$work/err")"
fi
$(B berth-save) save -o "$work/berth.tar" "$image" 2>"$work/err" || die "berth save failed: $(cat "$work/err")"
$(B berth-check) load -i "$work/podman.tar" >/dev/null 2>"$work/err" || die "berth load failed: $(cat "$work/err")"
discard "$work/berth-check"
if [ -n "${BENCH_EXPORT:-}" ]; then # keep the inputs for profiling
    mkdir -p "$BENCH_EXPORT" && cp -r "$oci" "$work/podman.tar" "$work/berth.tar" "$BENCH_EXPORT/"
fi

names=() cmds=() preps=()
add() { # name prepare command; BENCH_ONLY=part keeps only that part's entries
    [ -z "${BENCH_ONLY:-}" ] || [ "${1%%-*}" = "$BENCH_ONLY" ] || return 0
    names+=("$1"); preps+=("$2"); cmds+=("$3")
}
if [ $have_pull = 1 ]; then
    add pull-berth "bash $repo/bench/images.sh --discard $work/berth-pull" "$(B berth-pull) pull -q --tls-verify=false $image"
fi
if [ $have_pull = 1 ] && [ -n "${BERTH_BASE:-}" ]; then
    add pull-berth-base "bash $repo/bench/images.sh --discard $work/berth-pull-base" \
        "$BERTH_BASE --root $work/berth-pull-base/root --runroot $work/berth-pull-base/run pull -q --tls-verify=false $image"
fi
add pull-podman "bash $repo/bench/images.sh --wipe-podman $work/podman-pull" "$(P podman-pull) pull -q --tls-verify=false $image"
add pull-skopeo "bash $repo/bench/images.sh --discard $work/skopeo-oci" "skopeo copy -q --src-tls-verify=false docker://$image oci:$work/skopeo-oci:1"
add save-berth "rm -f $work/berth-out.tar" "$(B berth-save) save -o $work/berth-out.tar $image"
add save-podman "rm -f $work/podman-out.tar" "$(P podman-save) save -q --format docker-archive -o $work/podman-out.tar $image"
add load-berth "bash $repo/bench/images.sh --discard $work/berth-load" "$(B berth-load) load -q -i $work/podman.tar"
if [ -n "${BERTH_BASE:-}" ]; then
    add load-berth-base "bash $repo/bench/images.sh --discard $work/berth-load-base" \
        "$BERTH_BASE --root $work/berth-load-base/root --runroot $work/berth-load-base/run load -q -i $work/podman.tar"
fi
add load-podman "bash $repo/bench/images.sh --wipe-podman $work/podman-load" "$(P podman-load) load -q -i $work/podman.tar"

args=()
for i in "${!names[@]}"; do args+=(--prepare "${preps[$i]}; sync"); done
for i in "${!names[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done

echo "berth: $berth; $(podman --version); $(skopeo --version)"
echo "kernel $(uname -r), $(nproc) cpus; $RUNS runs after $WARMUP warm-up run(s) each"
echo
hyperfine --style basic --runs "$RUNS" --warmup "$WARMUP" --export-json "$work/result.json" "${args[@]}" \
    >"$work/hyperfine.out" 2>&1 || { cat "$work/hyperfine.out" >&2; die "hyperfine failed"; }

med() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median' "$work/result.json"; }
row() { # name
    local m
    m=$(med "$1")
    [ -n "$m" ] && jq -r --arg n "$1" '.results[] | select(.command == $n) |
        "\($n)\t\(.median * 1000 | floor) ms\t(mean \(.mean * 1000 | floor) ± \(.stddev * 1000 | floor), min \(.min * 1000 | floor), max \(.max * 1000 | floor))"' \
        "$work/result.json" | awk -F'\t' '{ printf "%-12s %9s  %s\n", $1, $2, $3 }'
}
ratio() { # label a b
    local a b
    a=$(med "$2") b=$(med "$3")
    [ -n "$a" ] && [ -n "$b" ] || return 0 # a part BENCH_ONLY left out
    awk -v l="$1" -v a="$a" -v b="$b" 'BEGIN { printf "%-22s %6.2f\n", l, a / b }'
}
echo "medians:"
for n in "${names[@]}"; do row "$n"; done
echo
echo "ratios (median / median):"
if [ $have_pull = 1 ]; then
    ratio "pull berth/podman" pull-berth pull-podman
    ratio "pull berth/skopeo" pull-berth pull-skopeo
    ratio "pull base/podman" pull-berth-base pull-podman
else
    echo "pull berth/podman       (skipped: no 'berth pull')"
fi
ratio "save berth/podman" save-berth save-podman
ratio "load berth/podman" load-berth load-podman
ratio "load base/podman" load-berth-base load-podman
echo
echo "archives: berth $(($(stat -c %s "$work/berth.tar") >> 20)) MiB, podman $(($(stat -c %s "$work/podman.tar") >> 20)) MiB"
