#!/bin/sh
# Build an OCI bundle with a busybox rootfs from Debian's busybox-static:
#   scripts/mkbundle.sh DIR [berth-runtime binary]
# DIR/rootfs gets busybox, one symlink per applet, /etc/passwd and /etc/group;
# DIR/config.json is `berth-runtime spec` with no terminal and args ["sh"].
set -eu
dir=$1
rt=${2:-berth-runtime}
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkbundle: $bb missing: apt-get install busybox-static" >&2; exit 1; }
file "$bb" 2>/dev/null | grep -q 'statically linked' || ldd "$bb" 2>&1 | grep -q 'not a dynamic' || {
    echo "mkbundle: $bb is not static (install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" \
    "$dir/rootfs/tmp" "$dir/rootfs/root" "$dir/rootfs/usr/bin" "$dir/rootfs/sbin"
cp "$bb" "$dir/rootfs/bin/busybox"
for applet in $("$bb" --list); do
    [ -e "$dir/rootfs/bin/$applet" ] || ln -s busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$dir/rootfs/etc/group"
chmod 1777 "$dir/rootfs/tmp"
rm -f "$dir/config.json"
"$rt" spec --bundle "$dir"
# Non-interactive by default; tests and demos edit args as they need.
sed -i 's/"terminal": true/"terminal": false/' "$dir/config.json"
