#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The VM test lane: build shmring.ko for a kernel flavour, build the module
# selftests and the library tests as static binaries, boot the kernel in qemu
# and run them all against /dev/shmring. Prints kselftest TAP on stdout (every
# other line is a "# " comment); exits non-zero if anything failed.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: selftests/vm/run-vm.sh [--keep] [--only PATTERN] <generic|rt|debug>

  generic  Debian's 6.1 kernel; module built against its headers
  rt       Debian's 6.1 PREEMPT_RT kernel (no THP: 4 KiB mappings)
  debug    KASAN + lockdep + DEBUG_VM + kmemleak kernel, built first with
           scripts/vm/build-debug-kernel.sh if missing or stale

Steps: build shmring.ko (a private copy of Kbuild, kmod/ and include/ in a
per-run directory build/out/vm-<flavour>/run.*, so parallel runs and in-tree
builds do not disturb each other),
build selftests/kmod (make -C selftests/kmod) and the library's static tests
(make -C selftests/lib static, skipped if that target does not exist), boot
with scripts/vm/boot.sh and run selftests/vm/guest.sh inside: insmod, every
test binary, rmmod, kmemleak scan (debug), dmesg scan.

  --only PATTERN  run only test binaries whose name matches the shell glob
                  PATTERN (e.g. 'test_perm*'); lane checks still run
  --keep          keep the work directory (build/out/vm-<flavour>/run.*:
                  mod/shmring.ko, payload/, build logs)
  -h, --help      this text

Environment: SHMRING_VM_TIMEOUT (seconds for qemu, default 540; 900 for debug),
SHMRING_VM_MEM (guest MiB, default 2048). The full console log is written
to build/logs/vm-<flavour>.console.log.
USAGE
}

keep=0 only='*'
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=1; shift ;;
	--only) [ $# -ge 2 ] || { echo "run-vm: --only needs a pattern" >&2; exit 2; }
		only=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "run-vm: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) break ;;
	esac
done
if [ $# -ne 1 ]; then
	echo "run-vm: need one flavour: generic, rt or debug (see --help)" >&2
	exit 2
fi
flavour=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

n=0 failed=0
check() {	# check <0|1|skip:reason> <name>
	n=$((n + 1))
	case $1 in
	0) echo "ok $n vm-$flavour: $2" ;;
	skip:*) echo "ok $n vm-$flavour: $2 # SKIP ${1#skip:}" ;;
	*) echo "not ok $n vm-$flavour: $2"; failed=1 ;;
	esac
}
comment() { sed 's/^/# /'; }

case $flavour in
generic) kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v -- '-rt-' | sort -V | tail -1) ;;
rt)      kdir=$(ls -d /usr/src/linux-headers-*-rt-amd64 2>/dev/null | sort -V | tail -1) ;;
debug)
	if ! bash scripts/vm/build-debug-kernel.sh 2>&1 | comment; then
		check 1 "build the debug kernel (scripts/vm/build-debug-kernel.sh)"
		exit 1
	fi
	kdir=$(ls -d "$top"/build/debug-kernel/linux-source-* | sort -V | tail -1) ;;
*) echo "run-vm: unknown flavour '$flavour' (generic, rt or debug)" >&2; exit 2 ;;
esac
if [ -z "$kdir" ] || [ ! -d "$kdir" ]; then
	check 1 "kernel build tree for $flavour (install linux-headers-${flavour/generic/}amd64)"
	exit 1
fi

# A private work directory per run: several people run lanes at once.
logs=$top/build/logs
mkdir -p "$top/build/out/vm-$flavour" "$logs"
out=$(mktemp -d "$top/build/out/vm-$flavour/run.XXXXXX")
payload=$out/payload
mkdir -p "$payload/kmod" "$payload/lib"
[ $keep = 1 ] || trap 'rm -rf "$out"' EXIT

lane_start=$(date +%s)
# 1. The module, from a private copy of the sources.
if [ -f Kbuild ] && [ -d kmod ]; then
	if bash scripts/vm/build-module.sh "$kdir" "$out" 2>/dev/null; then
		cp "$out/shmring.ko" "$payload/"
		check 0 "build shmring.ko against $kdir"
	else
		comment <"$out/module-build.log" | tail -40
		check 1 "build shmring.ko against $kdir"
	fi
else
	check 1 "build shmring.ko: no Kbuild or kmod/ in the tree yet"
fi

# 2. Module selftests (static).
kout=$out/kmod-tests
if make -s -C selftests/kmod OUT="$kout" >"$out/kmod-tests-build.log" 2>&1; then
	cp "$kout"/test_* "$payload/kmod/" 2>/dev/null
	check 0 "build selftests/kmod ($(ls "$payload/kmod" | wc -l) binaries)"
else
	comment <"$out/kmod-tests-build.log" | tail -40
	check 1 "build selftests/kmod"
fi

# 3. Library tests (static). A test that does not build is a failure of its
# own; the ones that did build still run (make -k).
if [ -f selftests/lib/Makefile ]; then
	if make -k -s -C selftests/lib static >"$out/lib-tests-build.log" 2>&1; then
		cp build/out/selftests/lib/static/test_* "$payload/lib/" 2>/dev/null
		check 0 "build selftests/lib static ($(ls "$payload/lib" | wc -l) binaries)"
	else
		comment <"$out/lib-tests-build.log" | tail -40
		cp build/out/selftests/lib/static/test_* "$payload/lib/" 2>/dev/null
		check 1 "build selftests/lib static (built: $(ls "$payload/lib" | wc -l))"
	fi
else
	check skip:"make -C selftests/lib static does not exist yet" "library tests on /dev/shmring"
fi

if [ ! -f "$payload/shmring.ko" ]; then
	check 1 "boot and test: skipped because there is no module"
	exit 1
fi

# --only: drop binaries that do not match.
for f in "$payload"/kmod/* "$payload"/lib/*; do
	[ -e "$f" ] || continue
	# shellcheck disable=SC2254
	case ${f##*/} in $only) ;; *) rm -f "$f" ;; esac
done

# 4. Boot and run. Guest numbering continues after ours.
cp selftests/vm/guest.sh "$payload/run.sh"
printf 'FLAVOUR=%s\n' "$flavour" >"$payload/lane.env"
start=$(date +%s)
# KASAN + lockdep under TCG is several times slower.
default_timeout=540
[ "$flavour" = debug ] && default_timeout=900
timeout_s=${SHMRING_VM_TIMEOUT:-$default_timeout}
bash scripts/vm/boot.sh --timeout "$timeout_s" --mem "${SHMRING_VM_MEM:-2048}" \
	--log "$logs/vm-$flavour.console.log" "$flavour" "$payload" 2>&1 |
	awk '/^(not )?ok [0-9]+ / || /^#/ || /^TAP version/ || /^1\.\.[0-9]/ { print; fflush(); next }
	     { print "# " $0; fflush() }'
rc=${PIPESTATUS[0]}
if [ "$rc" = 0 ]; then
	check 0 "guest run completed (VM $(( $(date +%s) - start )) s, lane $(( $(date +%s) - lane_start )) s)"
else
	case $rc in
	124) why="qemu timed out after ${timeout_s}s" ;;
	125) why="no exit sentinel: kernel panic or crash, see build/logs/vm-$flavour.console.log" ;;
	*) why="guest reported failures (rc=$rc)" ;;
	esac
	check 1 "guest run completed: $why (lane $(( $(date +%s) - lane_start )) s)"
fi
[ $keep = 1 ] && echo "# vm-$flavour: work directory kept: $out"
exit $failed
