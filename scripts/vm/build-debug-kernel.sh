#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the debug kernel for the vm-debug lane: Debian's linux-source-6.1,
# tinyconfig + scripts/vm/debug.config (KASAN, lockdep, DEBUG_VM, kmemleak,
# THP, FS_DAX). Output: build/debug-kernel/linux-source-6.1, whose
# arch/x86/boot/bzImage is booted by scripts/vm/boot.sh debug and which is the
# KDIR the module is built against. Idempotent: rebuilds only when the source
# tarball or the config fragment changed (or with --force).
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/vm/build-debug-kernel.sh [--force] [--jobs N] [--help]

Builds a KASAN + lockdep + DEBUG_VM + kmemleak kernel from
/usr/src/linux-source-6.1.tar.xz into build/debug-kernel/linux-source-6.1.
Needs flex, bison, libelf-dev, bc, libssl-dev (installed with apt-get if
missing). About 4 min on 2 idle cores, 0.5 GB of build output plus 1.5 GB
of source. Prints the path of the bzImage on success.

  --force    rebuild from a fresh configuration even if up to date
  --jobs N   parallel make jobs (default: number of CPUs)
  --help     this text

Environment: SHMRING_LINUX_SRC overrides the source tarball.
USAGE
}

force=0
jobs=$(nproc)
while [ $# -gt 0 ]; do
	case $1 in
	--force) force=1 ;;
	--jobs) [ $# -ge 2 ] || { echo "build-debug-kernel: --jobs needs a number" >&2; exit 2; }
		jobs=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "build-debug-kernel: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

top=$(cd "$(dirname "$0")/../.." && pwd)
frag="$top/scripts/vm/debug.config"
out="$top/build/debug-kernel"
src=${SHMRING_LINUX_SRC:-$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -1)}
if [ -z "$src" ] || [ ! -f "$src" ]; then
	echo "build-debug-kernel: no /usr/src/linux-source-*.tar.xz (apt-get install linux-source-6.1)" >&2
	exit 1
fi
name=$(basename "$src" .tar.xz)
tree="$out/$name"

missing=()
for p in flex bison libelf-dev bc libssl-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "build-debug-kernel: installing ${missing[*]}" >&2
	sudo= ; [ "$(id -u)" = 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

# One build at a time: a second caller (another lane) waits, then finds the
# tree up to date.
mkdir -p "$out"
exec 9>"$out/.lock"
if ! flock -n 9; then
	echo "build-debug-kernel: another build is running, waiting for it" >&2
	flock 9
fi

# Stamp: what this build was made from.
stamp_want="$(stat -c '%s %Y' "$src") $(sha256sum "$frag" | cut -d' ' -f1)"
stamp="$out/.stamp"
if [ $force = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_want" ] &&
   [ -f "$tree/arch/x86/boot/bzImage" ] && [ -f "$tree/Module.symvers" ]; then
	echo "$tree/arch/x86/boot/bzImage"
	exit 0
fi

mkdir -p "$out"
if [ ! -f "$tree/Makefile" ]; then
	echo "build-debug-kernel: extracting $src" >&2
	rm -rf "$tree"
	tar -xJf "$src" -C "$out"
fi
rm -f "$stamp"

cd "$tree"
echo "build-debug-kernel: configuring (tinyconfig + $(basename "$frag"))" >&2
make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null
make -s olddefconfig >/dev/null
bad=0
while read -r line; do
	case $line in CONFIG_*=y) ;; *) continue ;; esac
	if ! grep -qx "$line" .config; then
		echo "build-debug-kernel: $line did not survive olddefconfig" >&2
		bad=1
	fi
done <"$frag"
[ $bad = 0 ] || exit 1

echo "build-debug-kernel: make -j$jobs (a few minutes)" >&2
start=$(date +%s)
if ! make -s -j"$jobs" >"$out/build.log" 2>&1; then
	tail -40 "$out/build.log" >&2
	echo "build-debug-kernel: build failed, full log in $out/build.log" >&2
	exit 1
fi
echo "build-debug-kernel: built in $(( $(date +%s) - start )) s" >&2
echo "$stamp_want" >"$stamp"
echo "$tree/arch/x86/boot/bzImage"
