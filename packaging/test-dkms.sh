#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# DKMS test (TAP): install the module sources under a unique version,
# "dkms add" and "dkms build" them for every kernel whose headers are
# installed (or -k KVER), check the built module's vermagic and parameter
# descriptions, then "dkms remove" and delete the sources again. It writes
# to /usr/src and /var/lib/dkms, so it needs root and runs only when asked
# (SHMRING_TEST_DKMS=1 or --run); otherwise it reports a SKIP.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: packaging/test-dkms.sh [--run] [-k KVER]... [-h]

Build the shmring module through DKMS under a throw-away version
(0.0.0+test<pid>) and remove it again. TAP on stdout; exit 1 on failure.

  --run      run even without SHMRING_TEST_DKMS=1 (needs root and dkms)
  -k KVER    kernel to build for (repeatable; default: every kernel in
             /lib/modules with a build directory)
  -h, --help this text
USAGE
}

run=${SHMRING_TEST_DKMS:-0} kvers=()
while [ $# -gt 0 ]; do
	case $1 in
	--run) run=1; shift ;;
	-k) [ $# -ge 2 ] || { echo "test-dkms: -k needs a kernel version" >&2; exit 2; }
		kvers+=("$2"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "test-dkms: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
echo "TAP version 13"
why=
if [ "$run" != 1 ]; then
	why="set SHMRING_TEST_DKMS=1 (writes /usr/src and /var/lib/dkms)"
elif [ "$(id -u)" != 0 ]; then
	why="needs root"
elif ! command -v dkms >/dev/null; then
	why="dkms not installed (apt-get install dkms)"
fi
if [ -n "$why" ]; then
	echo "1..1"
	echo "ok 1 dkms.build # SKIP $why"
	exit 0
fi
if [ ${#kvers[@]} -eq 0 ]; then
	for d in /lib/modules/*/build; do
		[ -d "$d" ] && kvers+=("$(basename "$(dirname "$d")")")
	done
fi
if [ ${#kvers[@]} -eq 0 ]; then
	echo "1..1"
	echo "ok 1 dkms.build # SKIP no kernel headers in /lib/modules/*/build"
	exit 0
fi

ver="0.0.0+test$$"
log=$top/build/logs/dkms
mkdir -p "$log"
n=0 failed=0
ok()    { n=$((n + 1)); echo "ok $n $1"; }
notok() { n=$((n + 1)); echo "not ok $n $1"; failed=1; }
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	dkms remove -m shmring -v "$ver" --all >/dev/null 2>&1
	rm -rf "/usr/src/shmring-$ver"
}
trap cleanup EXIT

echo "1..$((2 + 2 * ${#kvers[@]} + 1))"
if bash "$top/packaging/dkms-install.sh" --version "$ver" >"$log/install.log" 2>&1 &&
   grep -qx "PACKAGE_VERSION=\"$ver\"" "/usr/src/shmring-$ver/dkms.conf"; then
	ok "dkms.sources /usr/src/shmring-$ver"
else
	notok "dkms.sources /usr/src/shmring-$ver"
fi
if timeout -k 5 60 dkms add -m shmring -v "$ver" >"$log/add.log" 2>&1; then
	ok "dkms.add"
else
	sed 's/^/# /' "$log/add.log" | tail -n 10
	notok "dkms.add"
fi
for k in "${kvers[@]}"; do
	if timeout -k 5 300 dkms build -m shmring -v "$ver" -k "$k" >"$log/build-$k.log" 2>&1; then
		ok "dkms.build $k"
	else
		sed 's/^/# /' "$log/build-$k.log" | tail -n 15
		notok "dkms.build $k"
	fi
	ko=$(find "/var/lib/dkms/shmring/$ver/$k" -path '*/module/shmring.ko*' 2>/dev/null | head -n 1)
	vm=$( [ -n "$ko" ] && modinfo -F vermagic "$ko" 2>/dev/null)
	np=$( [ -n "$ko" ] && modinfo -F parmtype "$ko" 2>/dev/null | wc -l)
	nd=$( [ -n "$ko" ] && modinfo -F parm "$ko" 2>/dev/null | grep -cvE '^[^:]*: *\(.*\)$')
	echo "# $k: ${ko:-no module}; vermagic '$vm'; $np parameters, $nd described"
	if [ -n "$ko" ] && [[ $vm == "$k "* ]] && [ "${np:-0}" -gt 0 ] && [ "$np" = "$nd" ]; then
		ok "dkms.module $k (vermagic, parameter descriptions)"
	else
		notok "dkms.module $k (vermagic, parameter descriptions)"
	fi
done
dkms remove -m shmring -v "$ver" --all >"$log/remove.log" 2>&1
rm -rf "/usr/src/shmring-$ver"
if ! dkms status -m shmring -v "$ver" 2>/dev/null | grep -q . && [ ! -e "/usr/src/shmring-$ver" ]; then
	ok "dkms.remove"
else
	notok "dkms.remove"
fi
exit "$failed"
