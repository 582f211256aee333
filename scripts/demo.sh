#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job (make demo): a writer and a reader streaming through a
# /dev/shmring ring with the module loaded, then the same on this host's
# userspace fallback memory compared with a pipe, AF_UNIX and memcpy.
#
# This host cannot load modules, so part 1 boots Debian's 6.1 kernel in qemu
# (TCG: emulated CPUs, so its figures show that it works, not how fast it
# is) with shmring.ko and a static shmring-stream. Part 2 runs on the host.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/demo.sh [options]

  1. In a VM (scripts/vm/boot.sh, Debian 6.1 generic kernel): insmod
     shmring.ko; a reader and a writer as two processes through the ring
     "demo" on /dev/shmring, with /sys/kernel/debug/shmring/rings listed
     while they run; shmring-stream bench --backend device; rmmod; a dmesg
     check.
  2. On the host: shmring-stream bench --compare --rt --backend shm (shmring vs
     pipe vs 1 MiB pipe vs AF_UNIX vs single-core memcpy, with the CPU
     placement of every cross-core figure).

Options:
  --vm-only        only part 1
  --host-only      only part 2
  --mib N          host: timed MiB per sample (default 1024)
  --rounds N       host: rounds (default 5)
  --vm-mib N       VM: MiB per transfer (default 64)
  --json           host: also write build/out/demo/host-bench.json
  -h, --help       this text

Exit status: 0 when every part that ran succeeded, 1 otherwise, 2 usage.
Logs: build/logs/demo-vm.console.log, build/out/demo/.
USAGE
}

vm=1 host=1 mib=1024 rounds=5 vm_mib=64 json=0
while [ $# -gt 0 ]; do
	case $1 in
	--vm-only) host=0; shift ;;
	--host-only) vm=0; shift ;;
	--mib|--rounds|--vm-mib)
		if [ $# -lt 2 ] || ! [[ $2 =~ ^[1-9][0-9]{0,6}$ ]]; then
			echo "demo: $1 needs a positive whole number" >&2
			exit 2
		fi
		case $1 in
		--mib) mib=$2 ;;
		--rounds) rounds=$2 ;;
		--vm-mib) vm_mib=$2 ;;
		esac
		shift 2 ;;
	--json) json=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "demo: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$top/build/out/demo
logs=$top/build/logs
mkdir -p "$out" "$logs"
status=0

say() { printf '\n==== %s\n' "$*"; }

say "building the library and the tools"
if ! make -s lib tools >"$out/build.log" 2>&1; then
	tail -30 "$out/build.log"
	echo "demo: build failed (full log: $out/build.log)" >&2
	exit 1
fi
stream=$top/build/out/tools/shmring-stream

# ---- part 1: /dev/shmring in a VM ---------------------------------------
vm_part() {
	local kdir payload rc

	kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v -- '-rt-' | sort -V | tail -1)
	if [ -z "$kdir" ]; then
		echo "demo: no linux-headers-*-amd64 to build the module against (make deps)" >&2
		return 1
	fi
	say "part 1: building shmring.ko against $kdir and a static shmring-stream"
	if ! bash scripts/vm/build-module.sh "$kdir" "$out"; then
		echo "demo: module build failed (log: $out/module-build.log)" >&2
		return 1
	fi
	if ! make -s -C tools static >"$out/static-build.log" 2>&1; then
		tail -30 "$out/static-build.log"
		echo "demo: static tool build failed (log: $out/static-build.log)" >&2
		return 1
	fi
	payload=$out/payload
	rm -rf "$payload"
	mkdir -p "$payload"
	cp "$out/shmring.ko" build/out/tools-static/shmring-stream "$payload/"
	cat >"$payload/run.sh" <<GUEST
# SPDX-License-Identifier: GPL-2.0
# Guest side of scripts/demo.sh (busybox sh).
MIB=$vm_mib
GUEST
	cat >>"$payload/run.sh" <<'GUEST'
S=/t/shmring-stream
L=/sys/kernel/debug/shmring/rings
fail=0
echo "== guest: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs (TCG: emulated, figures are not representative)"
dmesg -c >/dev/null 2>&1
if ! insmod /t/shmring.ko; then
	echo "demo: insmod shmring.ko failed"
	exit 3
fi
ls -l /dev/shmring
echo "== reader and writer as two processes through ring 'demo' on /dev/shmring ($MIB MiB)"
$S read demo --create --backend device --ring 4M --timeout 120 >/tmp/read.out 2>&1 &
rp=$!
i=0
while ! grep -q '^[0-9]* demo ' $L 2>/dev/null && [ $i -lt 200 ]; do
	usleep 50000; i=$((i + 1))
done
$S write demo --backend device --mib $MIB --timeout 120 >/tmp/write.out 2>&1 &
wp=$!
i=0
while [ "$(awk '$2 == "demo" { print $6 }' $L 2>/dev/null)" != 2 ] && [ $i -lt 200 ]; do
	usleep 50000; i=$((i + 1))
done
echo "-- $L while they run:"
cat $L
wait $wp; wrc=$?
wait $rp; rrc=$?
cat /tmp/write.out /tmp/read.out
[ $wrc = 0 ] && [ $rrc = 0 ] || { echo "demo: writer rc=$wrc reader rc=$rrc"; fail=1; }
echo "== shmring-stream bench --backend device (writer on CPU 0, reader on CPU 1)"
$S bench --backend device --mib $MIB --rounds 1 --timeout 120 || fail=1
echo "-- $L after the run (no rings left):"
cat $L
rmmod shmring || { echo "demo: rmmod failed"; fail=1; }
if dmesg | grep -E 'WARNING:|BUG:|Oops|KASAN:|circular|sleeping function'; then
	echo "demo: kernel warnings in dmesg"
	fail=1
fi
exit $fail
GUEST
	say "part 1: booting Debian's 6.1 kernel in qemu (TCG) with the module"
	bash scripts/vm/boot.sh --timeout 600 --log "$logs/demo-vm.console.log" \
		generic "$payload" 2>&1 | grep -v '^@@SHMRING'
	rc=${PIPESTATUS[0]}
	if [ "$rc" != 0 ]; then
		echo "demo: VM part failed (rc=$rc; console log: $logs/demo-vm.console.log)" >&2
		return 1
	fi
	return 0
}

# ---- part 2: host, userspace fallback, with --compare --------------------
host_part() {
	local args=(bench --compare --rt --backend shm --mib "$mib" --rounds "$rounds")

	say "part 2: on this host (userspace fallback memory, /dev/shm): shmring vs pipe vs AF_UNIX vs memcpy"
	echo "\$ ${stream#"$top"/} ${args[*]}"
	if [ $json = 1 ]; then
		"$stream" "${args[@]}" --json >"$out/host-bench.json" || return 1
		echo "(JSON in $out/host-bench.json)"
		return 0
	fi
	"$stream" "${args[@]}"
}

if [ $vm = 1 ]; then
	vm_part || status=1
fi
if [ $host = 1 ]; then
	host_part || status=1
fi
if [ $status = 0 ]; then
	say "demo: done"
else
	say "demo: FAILED (see the messages above)"
fi
exit $status
