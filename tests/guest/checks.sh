#!/bin/sh
# Checks run inside the cgroup-v2-only guest on Debian 12's kernel (see
# ../shared/vm/README.md), by crates/cli/tests/guest.rs, which stages:
#   /usr/local/bin/{berth,berth-monitor,berth-runtime,berth-dns}  (static)
#   /usr/sbin/nft  Debian's (dynamic), with the libraries and the loader
#       `ldd` lists, at their paths: berth's firewall runs it
#   /opt/guest/bundle/{config.json,rootfs/}  an OCI bundle (busybox) whose
#       config sets memory/swap/cpu/pids/io limits, cgroupsPath /berth-guest/c1
#   /opt/guest/image.tar  a three-layer oci-archive, localhost/guest:latest
#   /opt/guest/data/file  bind-mounted read-only at /data in the bundle
# Prints one line per check ("ok   NAME" or "FAIL NAME: why") and exits 1
# when any failed. The expected values are the config's (see guest.rs).
# busybox sh: no bash-isms.

fails=0
ok() { echo "ok   $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
# check NAME COMMAND...: the command succeeds (within 60 s). Its output goes
# to a file, not a pipe: a container started by `create` keeps its stdio.
check() {
    name=$1; shift
    if timeout 60 "$@" >/tmp/check.out 2>&1 </dev/null; then
        ok "$name"
    else
        fail "$name" "exit $?: $(tail -n 3 /tmp/check.out | tr '\n' ' ')"
    fi
}
# expect NAME GOT WANT
expect() {
    if [ "$2" = "$3" ]; then ok "$1 = $3"; else fail "$1" "got '$2', want '$3'"; fi
}
# contains NAME TEXT PART
contains() {
    case "$2" in *"$3"*) ok "$1" ;; *) fail "$1" "'$3' not in: $(echo "$2" | head -c 400 | tr '\n' ' ')" ;; esac
}
# wait_for NAME COMMAND...: retry for up to 10 s
wait_for() {
    name=$1; shift; i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -ge 100 ] && { fail "$name" "timed out: $*"; return 1; }
        sleep 0.1
    done
    ok "$name"
}

echo "guest: kernel $(uname -r)"
# (The guest's bare devtmpfs has no /dev/stdin, as some minimal hosts: berth's
# firewall must not need it.)
# cgroup2's magic: busybox's stat has no name for it.
expect "cgroup v2 at /sys/fs/cgroup" "$(stat -f -c %t /sys/fs/cgroup)" 63677270
expect "no cgroup v1 mounted" "$(grep -c ' cgroup ' /proc/mounts)" 0

# --- berth-runtime: limits, freezer, update, stats, delete on cgroup v2 ---
RT="berth-runtime --root /run/berth-runtime-guest"
CG=/sys/fs/cgroup/berth-guest/c1
[ -b /dev/loop0 ] || fail "io.max device" "no /dev/loop0 (7:0) in the guest"
cd /opt/guest/bundle || exit 1
check "runtime create" $RT create c1
expect "memory.max" "$(cat $CG/memory.max 2>&1)" 67108864
expect "memory.swap.max" "$(cat $CG/memory.swap.max 2>&1)" 33554432
expect "cpu.max" "$(cat $CG/cpu.max 2>&1)" "50000 100000"
expect "pids.max" "$(cat $CG/pids.max 2>&1)" 64
expect "io.weight" "$(grep default $CG/io.weight 2>&1)" "default 4950"
expect "io.max" "$(grep '^7:0 ' $CG/io.max 2>&1)" "7:0 rbps=1048576 wbps=max riops=max wiops=max"
check "runtime start" $RT start c1
contains "state running" "$($RT state c1 2>&1)" '"status": "running"'
# Born in its cgroup (clone3 CLONE_INTO_CGROUP), not moved there.
init=$($RT state c1 | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
expect "init in the cgroup" "$(cat $CG/cgroup.procs 2>&1)" "$init"
expect "exec'd process in the cgroup" "$($RT exec c1 sh -c 'grep -qx $$ /sys/fs/cgroup/cgroup.procs && echo in' 2>&1)" in
# The read-only bind, attached by fd through the new mount API on this kernel.
expect "ro bind readable" "$($RT exec c1 cat /data/file 2>&1)" "host data"
if $RT exec c1 sh -c 'echo x > /data/file' >/dev/null 2>&1; then
    fail "ro bind refuses writes" "wrote through /data"
else
    ok "ro bind refuses writes"
fi
contains "ro bind flags" "$($RT exec c1 grep ' /data ' /proc/self/mountinfo 2>&1)" " ro,nosuid"
expect "host side still writable" "$(echo y > /opt/guest/data/w && cat /opt/guest/data/w)" y
check "pause" $RT pause c1
expect "cgroup.freeze after pause" "$(cat $CG/cgroup.freeze 2>&1)" 1
wait_for "cgroup.events frozen 1" grep -qx 'frozen 1' $CG/cgroup.events
contains "state paused" "$($RT state c1 2>&1)" '"status": "paused"'
check "resume" $RT resume c1
wait_for "cgroup.events frozen 0" grep -qx 'frozen 0' $CG/cgroup.events
contains "state running after resume" "$($RT state c1 2>&1)" '"status": "running"'
check "update" $RT update --memory 134217728 --pids-limit 100 --cpu-quota 20000 c1
expect "memory.max after update" "$(cat $CG/memory.max 2>&1)" 134217728
expect "pids.max after update" "$(cat $CG/pids.max 2>&1)" 100
expect "cpu.max after update" "$(cat $CG/cpu.max 2>&1)" "20000 100000"
stats=$($RT events --stats c1 2>&1)
contains "events --stats type" "$stats" '"type":"stats"'
contains "events --stats pids" "$stats" '"pids":{"current":1'
contains "events --stats memory limit" "$stats" '"limit":134217728'
check "kill" $RT kill c1 KILL
wait_for "stopped after kill" sh -c "$RT state c1 | grep -q '\"status\": \"stopped\"'"
check "delete" $RT delete c1
if [ -e $CG ]; then fail "delete removes the cgroup" "$CG still exists"; else ok "delete removes the cgroup"; fi

# --- berth: a multi-layer image on the overlay driver ---
cd /
check "berth load (three layers)" berth load -q -i /opt/guest/image.tar
expect "driver" "$(berth info --format '{{.Store.GraphDriverName}}' 2>&1)" overlay
form=$(berth info --format '{{index .Store.GraphStatus "Lower Layers"}}' 2>&1)
case $(uname -r) in
    [1-5].* | 6.[0-4].*) contains "overlay mount form before 6.5" "$form" "lowerdir=" ;;
    *) contains "overlay mount form" "$form" "lowerdir" ;;
esac
out=$(berth run --name g1 localhost/guest sh -c \
    'grep " / / " /proc/self/mountinfo; cat /etc/layer2 /etc/layer3; [ -e /etc/gone ] || echo gone-is-gone; echo hi > /made-in-guest' 2>&1)
echo "$out" | sed 's/^/     | /'
contains "container / is overlay" "$out" " - overlay overlay "
contains "layer 2 content" "$out" "from layer 2"
contains "layer 3 content" "$out" "from layer 3"
contains "layer 3 whiteout" "$out" "gone-is-gone"
upper=$(ls -d /var/lib/berth/overlay/containers/*/upper 2>&1)
expect "write lands in the upper dir" "$(cat $upper/made-in-guest 2>&1)" hi
if ls /var/lib/berth/overlay/layers/*/diff/made-in-guest >/dev/null 2>&1; then
    fail "layers untouched" "made-in-guest is in a layer"
else
    ok "layers untouched"
fi
# `diff A B` reads the image through a read-only overlay of its three layers
# (mount(2) and lowerdir= on this kernel).
# /etc: the container's mount points for /etc/hosts and friends are left
# out, their directory is not (podman's rule, see fs_commands.rs).
expect "diff container image" "$(berth diff g1 localhost/guest 2>&1 | tr '\n' ' ')" "C /etc A /made-in-guest "
if grep -q '/views/' /proc/mounts; then fail "diff leaves no view mounted" "$(grep /views/ /proc/mounts)"; else ok "diff leaves no view mounted"; fi
expect "second container" "$(berth run --rm localhost/guest cat /etc/layer3 2>&1)" "from layer 3"
# A --rm container's overlay is volatile (as podman's), and its runtime's
# init brought lo up (IFF_UP|IFF_LOOPBACK) in its new network namespace.
expect "--rm: volatile root, lo up" \
    "$(berth run --rm localhost/guest sh -c 'grep " / " /proc/self/mounts | grep -o volatile; cat /sys/class/net/lo/flags' 2>&1 | tr '\n' ' ')" \
    "volatile 0x9 "
# Docker's readonlyPaths and maskedPaths, applied through fds on this kernel.
paths=$(berth run --rm localhost/guest sh -c \
    'grep " /proc/sys " /proc/self/mountinfo; echo "kcore $(wc -c < /proc/kcore) bytes"; echo 1 > /proc/sys/kernel/domainname && echo wrote' 2>&1)
echo "$paths" | sed 's/^/     | /'
contains "/proc/sys read-only" "$paths" " /proc/sys ro,"
contains "/proc/kcore masked" "$paths" "kcore 0 bytes"
case "$paths" in *wrote*) fail "/proc/sys refuses writes" "a write went through" ;; *) ok "/proc/sys refuses writes" ;; esac

# --- berth: container limits and the monitor on cgroup v2 ---
lim=$(berth run --rm -m 32m --cpus 0.5 --pids-limit 50 localhost/guest sh -c \
    'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max' 2>&1)
echo "$lim" | sed 's/^/     | /'
expect "-m 32m in memory.max" "$(echo "$lim" | sed -n 1p)" 33554432
expect "--cpus 0.5 in cpu.max" "$(echo "$lim" | sed -n 2p)" "50000 100000"
expect "--pids-limit 50 in pids.max" "$(echo "$lim" | sed -n 3p)" 50
berth run --name oom -m 16m --memory-swap 16m localhost/guest sh -c 'x=aaaaaaaa; while :; do x=$x$x; done' >/dev/null 2>&1
expect "over -m: OOM-killed" "$?" 137
berth rm oom >/dev/null 2>&1
check "run -d under the monitor" berth run -d --name bg localhost/guest sh -c 'echo from-bg; sleep 30'
wait_for "its log" sh -c 'berth logs bg | grep -q from-bg'
monitor=$(awk '{print $4}' /proc/"$(berth inspect --format '{{.State.Pid}}' bg)"/stat)
expect "the monitor runs berth-monitor" "$(basename "$(readlink /proc/"$monitor"/exe)")" berth-monitor
check "stop" berth stop -t 1 bg
expect "stopped" "$(berth ps -a --format '{{.Names}} {{.Status}}' | sed -n 's/^bg \(Exited ([0-9]*)\).*/\1/p')" "Exited (137)"
check "rm" berth rm bg

# --- berth: stats from the cgroup v2 files ---
# sh, two sleeps, dd holding an 8 MB buffer it cannot write, the sleep that
# never reads it: 5 processes, 8 MB of anonymous memory (podman 4.3 reports
# memory.stat's anon on v2).
check "run -d for stats" berth run -d --name st -m 64m localhost/guest sh -c \
    'sleep 1000 & sleep 1000 & dd if=/dev/zero bs=8M count=1 | sleep 1000'
cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/"$(berth inspect --format '{{.State.Pid}}' st)"/cgroup)
wait_for "stats: 5 processes" sh -c "[ \$(cat $cg/pids.current) = 5 ]"
wait_for "stats: dd's buffer" sh -c "[ \$(sed -n 's/^anon //p' $cg/memory.stat) -ge 8388608 ]"
row=$(berth stats --no-stream --format '{{.PIDs}} {{.MemLimit}} {{.CPUNano}}' st 2>&1)
expect "stats PIDs, limit, CPU time" "$row" "$(cat $cg/pids.current) 67108864 $(sed -n 's/^usage_usec //p' $cg/cpu.stat)000"
mem=$(berth stats --no-stream --format '{{.MemUsage}}' st 2>&1)
anon=$(sed -n 's/^anon //p' $cg/memory.stat)
# "8.704MB / 67.11MB": four significant digits of anon.
if echo "$mem" | awk -v a="$anon" '{ v = $1; u = $1; sub(/[A-Za-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
        m = (u == "kB") ? 1e3 : (u == "MB") ? 1e6 : (u == "GB") ? 1e9 : 1
        d = v * m - a; if (d < 0) d = -d; exit !(d <= a * 0.001 + 1 && $3 == "67.11MB") }'; then
    ok "stats memory = anon ($mem)"
else
    fail "stats memory" "got '$mem', anon $anon"
fi
check "rm -f the stats container" berth rm -f -t 0 st

# --- berth: a bridge network, its names (berth-dns), a published port ---
# The firewall is Debian's nft (staged with its libraries) on 6.1's
# nf_tables; the guest has no network of its own: everything goes through
# the bridge. No nf_conntrack_netlink here: berth's conntrack cleanup
# cannot run, and must not stop a removal.
check "nft runs" nft list ruleset
check "network create" berth network create --subnet 10.90.0.0/24 gnet
br=$(berth network inspect --format '{{.NetworkInterface}}' gnet 2>&1)
check "run -d a server on it, -p 18080:8080" berth run -d --name srv --network gnet --network-alias web \
    -p 18080:8080 localhost/guest sh -c 'mkdir /www && echo hi-from-srv > /www/index.html && exec httpd -f -p 8080 -h /www'
id=$(berth inspect --format '{{.Id}}' srv 2>&1 | cut -c1-12)
expect "its address" "$(berth inspect --format '{{(index .NetworkSettings.Networks "gnet").IPAddress}}' srv 2>&1)" 10.90.0.2
contains "the bridge has the gateway" "$(ip -o -4 addr show dev "$br" 2>&1)" "inet 10.90.0.1/24"
# veth<10 digits of its id><its index>
expect "its veth is on the bridge" "$(ls /sys/class/net/"$br"/brif 2>&1)" "veth$(echo "$id" | cut -c1-10)0"
# busybox's wget -T is unreliable: timeout instead.
wait_for "published port answers" sh -c 'timeout 3 wget -qO- http://127.0.0.1:18080/ | grep -q hi-from-srv'
expect "published port on 127.0.0.1" "$(timeout 5 wget -qO- http://127.0.0.1:18080/ 2>&1)" hi-from-srv
expect "published port on the gateway" "$(timeout 5 wget -qO- http://10.90.0.1:18080/ 2>&1)" hi-from-srv
# Another container on the network: srv by name and by alias, through the
# network's name server (asked again while berth-dns starts).
names=$(berth run --rm --network gnet localhost/guest sh -c '
    for n in srv web; do i=0
        until r=$(timeout 3 wget -qO- http://$n:8080/ 2>&1); do
            i=$((i + 1)); [ $i -ge 20 ] && break; sleep 0.3
        done
        echo "$n: $r"
    done
    grep nameserver /etc/resolv.conf; nslookup web' 2>&1)
echo "$names" | sed 's/^/     | /'
contains "srv by name" "$names" "srv: hi-from-srv"
contains "srv by its alias" "$names" "web: hi-from-srv"
contains "asks the network's name server" "$names" "nameserver 10.90.0.1"
contains "the alias's address" "$names" "10.90.0.2"
check "berth-dns runs" pidof berth-dns
rules=$(nft list table inet berth 2>&1)
echo "$rules" | grep -E 'chain|dnat|masquerade' | sed 's/^/     | /'
contains "nft: the network's chain" "$rules" "chain nw-gnet-fwd {"
contains "nft: srv's DNAT chain" "$rules" "chain ct-$id-dnat4 {"
contains "nft: its DNAT rule" "$rules" "tcp dport 18080 dnat ip to 10.90.0.2:8080"
# Removal: the veth pair, the port's rules and the port itself go.
rmout=$(berth rm -f -t 0 srv 2>&1)
expect "rm -f srv" "$?" 0
[ -n "$rmout" ] && echo "$rmout" | sed 's/^/     | /'
wait_for "no veth left" sh -c '! ip -o link | grep -q veth'
case $(nft list table inet berth 2>&1) in
    *"ct-$id"*) fail "srv's chains removed" "$(nft list table inet berth | grep "ct-$id")" ;;
    *) ok "srv's chains removed" ;;
esac
if timeout 5 wget -qO- http://127.0.0.1:18080/ >/dev/null 2>&1; then
    fail "published port closed" "127.0.0.1:18080 still answers"
else
    ok "published port closed"
fi
check "network rm" berth network rm gnet
if ip link show "$br" >/dev/null 2>&1; then fail "bridge removed" "$br is still there"; else ok "bridge removed"; fi
case $(nft list table inet berth 2>&1) in
    *nw-gnet*) fail "network's chains removed" "$(nft list table inet berth | grep nw-gnet)" ;;
    *) ok "network's chains removed" ;;
esac

# --- berth build on the overlay driver (6.1: the lowerdir= form) ---
mkdir -p /tmp/ctx && echo from-context >/tmp/ctx/f.txt
printf 'FROM localhost/guest\nRUN echo built > /built\nCOPY f.txt /f.txt\nCMD ["cat", "/built", "/f.txt"]\n' >/tmp/ctx/Containerfile
check "build" berth build --network none -t built /tmp/ctx
expect "built image runs" "$(berth run --rm built 2>&1 | tr '\n' ' ')" "built from-context "
contains "rebuild is cached" "$(berth build --network none -t built /tmp/ctx 2>&1)" "--> Using cache"
# A step's layer is its container's upper dir, adopted: a removed file and
# a replaced directory (whiteout, opaque dir) as 6.1's overlayfs wrote them.
mkdir -p /tmp/ctx2
printf 'FROM built\nRUN mkdir -p /d/sub && touch /d/sub/old\nRUN rm /built && rm -rf /d && mkdir /d && touch /d/new\nCMD ["ls", "-A", "/", "/d"]\n' >/tmp/ctx2/Containerfile
check "build on a built image" berth build --network none -t built2 /tmp/ctx2
seen=$(berth run --rm built2 2>&1 | tr '\n' ' ')
expect "replaced directory is opaque" "${seen##*/d:}" " new "
case $seen in *" built "*) fail "whiteout in an adopted layer" "/built is still there: $seen" ;; *) ok "whiteout in an adopted layer" ;; esac

# --- image mount (6.1 overlayfs, no upper), system df, system boot after a reboot ---
mnt=$(berth image mount localhost/guest 2>&1)
expect "image mount: the top layer's file" "$(cat "$mnt/etc/layer3" 2>&1)" "from layer 3"
if touch "$mnt/written" 2>/dev/null; then fail "image mount is read-only" "wrote $mnt/written"; else ok "image mount is read-only"; fi
check "image unmount" berth image unmount localhost/guest
if grep -q " $mnt " /proc/self/mounts; then fail "image unmounted" "$mnt still mounted"; else ok "image unmounted"; fi
contains "system df" "$(berth system df 2>&1)" "Images"
check "run -d --restart always" berth run -d --name boots --restart always --network none localhost/guest sleep 1000
pid=$(berth inspect --format '{{.State.Pid}}' boots 2>&1)
bcg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/"$pid"/cgroup)
# The reboot: the monitor and the container die, every mount and the
# runroot (a tmpfs) go, and so does the cgroup.
kill -9 "$(awk '{print $4}' /proc/"$pid"/stat)" "$pid"
wait_for "boots' cgroup empty" sh -c "[ ! -s $bcg/cgroup.procs ]"
grep -E ' /(run|var/lib)/berth' /proc/self/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l
rm -rf /run/berth
rmdir "$bcg" 2>/dev/null
contains "ps -a after the reboot" "$(berth ps -a --format '{{.Names}} {{.Status}}' 2>&1)" "boots Exited"
expect "system boot starts it" "$(berth system boot 2>&1)" boots
expect "it runs again" "$(berth exec boots echo back 2>&1)" back
pid=$(berth inspect --format '{{.State.Pid}}' boots 2>&1)
expect "in its cgroup again" "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/"$pid"/cgroup)" "$bcg"
expect "a second boot starts nothing" "$(berth system boot 2>&1)" ""
check "rm -f boots" berth rm -f -t 0 boots

echo "guest: $fails failed"
[ $fails -eq 0 ]
