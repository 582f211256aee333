#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a kernel in qemu (TCG) with a busybox initramfs that carries a payload
# directory as /t, run /t/run.sh inside, stream the serial console to stdout
# and exit with run.sh's exit status. See --help and docs/testing.md.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/vm/boot.sh [options] <generic|rt|debug> <payload-dir>

Boots a kernel in qemu (TCG, no KVM needed) with a busybox initramfs. The
payload directory is copied to /t in the guest; /t/run.sh is run there by
busybox sh with the working directory /t. The serial console is streamed to
stdout (\r stripped). Exit status: run.sh's own status, taken from the
"@@SHMRING-EXIT rc=N" line that /init prints after it.

Kernel flavours:
  generic  Debian's /boot/vmlinuz-*-amd64 (newest, non-rt)
  rt       Debian's /boot/vmlinuz-*-rt-amd64 (PREEMPT_RT)
  debug    build/debug-kernel/linux-source-*/arch/x86/boot/bzImage
           (KASAN, lockdep, DEBUG_VM, kmemleak; make it with
           scripts/vm/build-debug-kernel.sh)

Options:
  --timeout SEC   kill qemu after SEC seconds (default 600)
  --mem MB        guest memory (default 2048)
  --smp N         guest CPUs (default 2)
  --append STR    extra kernel command line
  --kernel PATH   boot this kernel image instead of the flavour's
  --log FILE      also keep the console output in FILE
  -h, --help      this text

Guest environment: /bin/busybox with its applets, proc, sys, devtmpfs
(/dev), tmpfs (/tmp, /dev/shm), debugfs (/sys/kernel/debug) mounted; the
command line contains "console=ttyS0 quiet panic=-1 oops=panic". run.sh runs
as root. The kernel release is in $(uname -r). /init prints
"@@SHMRING-BOOTED uptime=S" before run.sh and "@@SHMRING-EXIT rc=N" after.

Exit status:
  N     run.sh exited with N
  124   timeout (no sentinel); 125 no sentinel (kernel panic, crash,
        qemu failure); 2 usage error or missing kernel/payload
The initramfs is built under build/vm/.
USAGE
}

timeout_s=600 mem=2048 smp=2 append= kernel= log=
while [ $# -gt 0 ]; do
	case $1 in
	--timeout|--mem|--smp|--append|--kernel|--log)
		[ $# -ge 2 ] || { echo "boot.sh: $1 needs a value" >&2; exit 2; }
		case $1 in
		--timeout) timeout_s=$2 ;; --mem) mem=$2 ;; --smp) smp=$2 ;;
		--append) append=$2 ;; --kernel) kernel=$2 ;; --log) log=$2 ;;
		esac
		shift 2 ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "boot.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [ $# -ne 2 ]; then
	echo "boot.sh: need <generic|rt|debug> <payload-dir> (see --help)" >&2
	exit 2
fi
flavour=$1 payload=$2
for n in "$timeout_s" "$mem" "$smp"; do
	case $n in ''|*[!0-9]*) echo "boot.sh: '$n' is not a number" >&2; exit 2 ;; esac
done

top=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "$kernel" ]; then
	case $flavour in
	generic) kernel=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | grep -v -- '-rt-' | sort -V | tail -1) ;;
	rt)      kernel=$(ls /boot/vmlinuz-*-rt-amd64 2>/dev/null | sort -V | tail -1) ;;
	debug)   kernel=$(ls "$top"/build/debug-kernel/linux-source-*/arch/x86/boot/bzImage 2>/dev/null | sort -V | tail -1) ;;
	*) echo "boot.sh: unknown flavour '$flavour' (generic, rt or debug)" >&2; exit 2 ;;
	esac
fi
if [ -z "$kernel" ] || [ ! -f "$kernel" ]; then
	case $flavour in
	debug) echo "boot.sh: no debug kernel; run scripts/vm/build-debug-kernel.sh" >&2 ;;
	*) echo "boot.sh: no kernel image for '$flavour' (apt-get install linux-image-${flavour/generic/}amd64)" >&2 ;;
	esac
	exit 2
fi
if [ ! -f "$payload/run.sh" ]; then
	echo "boot.sh: $payload/run.sh does not exist" >&2
	exit 2
fi
bb=$(command -v busybox || true)
[ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox
if [ ! -x "$bb" ]; then
	echo "boot.sh: static busybox missing (apt-get install busybox-static)" >&2
	exit 2
fi
for tool in qemu-system-x86_64 cpio gzip timeout; do
	command -v $tool >/dev/null || { echo "boot.sh: $tool missing (see scripts/deps.txt)" >&2; exit 2; }
done

# One work directory per call, so parallel boots do not collide.
mkdir -p "$top/build/vm"
work=$(mktemp -d "$top/build/vm/$flavour.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,t}
cp "$bb" "$root/bin/busybox"
cp -a "$payload"/. "$root/t/"
cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin HOME=/t
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "@@SHMRING-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime)"
cd /t
sh /t/run.sh
rc=$?
echo "@@SHMRING-EXIT rc=$rc"
sync
reboot -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initramfs.gz" || {
	echo "boot.sh: building the initramfs failed" >&2; exit 2; }

cmdline="console=ttyS0 quiet panic=-1 oops=panic $append"
out="$work/console.log"
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp "$smp" -m "$mem" \
	-display none -monitor none -serial stdio -no-reboot -nodefaults \
	-kernel "$kernel" -initrd "$work/initramfs.gz" -append "$cmdline" \
	</dev/null 2>&1 | tr -d '\r' | tee "$out"
qrc=${PIPESTATUS[0]}
[ -n "$log" ] && cp "$out" "$log"

rc=$(sed -n 's/^.*@@SHMRING-EXIT rc=\([0-9][0-9]*\).*$/\1/p' "$out" | tail -1)
if [ -z "$rc" ]; then
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		echo "boot.sh: no @@SHMRING-EXIT sentinel: qemu killed after ${timeout_s}s timeout" >&2
		exit 124
	fi
	echo "boot.sh: no @@SHMRING-EXIT sentinel (qemu status $qrc): kernel panic, crash or qemu failure; see the console output above" >&2
	exit 125
fi
exit "$rc"
