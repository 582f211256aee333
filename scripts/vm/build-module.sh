#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build shmring.ko against a kernel build tree from a private copy of the
# module sources (Kbuild, kmod/, include/), so that builds running at the
# same time (in-tree, other lanes) never share object files.
#
#   scripts/vm/build-module.sh KDIR OUTDIR
#
# Leaves OUTDIR/shmring.ko and the build log in OUTDIR/module-build.log;
# exits non-zero (log on stderr's tail) when the build fails.
set -uo pipefail
if [ $# -ne 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'
	[ $# -eq 2 ] || exit 2
	exit 0
fi
kdir=$1
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$2" && out=$(cd "$2" && pwd) || exit 1	# Kbuild wants M= absolute
mod=$out/mod
rm -rf "$mod"
mkdir -p "$mod" || exit 1
(cd "$top" && cp -a Kbuild kmod include "$mod/") || exit 1
rm -f "$mod"/kmod/*.o "$mod"/kmod/.*.cmd
if make -s -C "$kdir" M="$mod" modules >"$out/module-build.log" 2>&1 &&
   [ -f "$mod/shmring.ko" ]; then
	cp "$mod/shmring.ko" "$out/shmring.ko"
	exit 0
fi
tail -n 40 "$out/module-build.log" >&2
exit 1
