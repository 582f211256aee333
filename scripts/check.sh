#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run every test lane and sum the TAP results into one closing line.
#
# A lane is a script that prints kselftest TAP on stdout: "ok N name",
# "not ok N name", "ok N name # SKIP why". Lanes: the host lane (library on
# userspace fallback memory, plus sanitizer builds), and the VM lanes (the
# module and the library on /dev/shmring in qemu, Debian 6.1 and 6.1-rt).
# SHMRING_LANES="host vm-generic" selects lanes.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs=build/logs
mkdir -p "$logs"
lanes=${SHMRING_LANES:-"host vm-generic vm-rt"}

pass=0 fail=0 skip=0
# The library and the tools first: the host lane's tool tests use them.
echo "=== build: make lib tools"
if make --no-print-directory -s lib tools >"$logs/build.log" 2>&1; then
	echo "ok 1 build: library and tools"
	pass=1
else
	tail -n 40 "$logs/build.log" | sed 's/^/# /'
	echo "not ok 1 build: library and tools (build/logs/build.log)"
	fail=1
fi
for lane in $lanes; do
	case $lane in
	host)	cmd=(bash selftests/run-host.sh) ;;
	vm-*)	cmd=(bash selftests/vm/run-vm.sh "${lane#vm-}") ;;
	*)	echo "check: unknown lane $lane" >&2; exit 2 ;;
	esac
	echo "=== lane $lane: ${cmd[*]}"
	start=$(date +%s)
	"${cmd[@]}" 2>&1 | tr -d '\r' | tee "$logs/$lane.log"
	rc=${PIPESTATUS[0]}
	p=$(grep -cE '^ok [0-9]+' "$logs/$lane.log" | head -1)
	s=$(grep -E '^ok [0-9]+' "$logs/$lane.log" | grep -c '# SKIP')
	f=$(grep -cE '^not ok [0-9]+' "$logs/$lane.log")
	p=$((p - s))
	# A lane that fails without naming a failing test still fails.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok 1 lane-$lane exited with status $rc"
		f=1
	fi
	echo "=== lane $lane: $p passed, $f failed, $s skipped ($(( $(date +%s) - start )) s)"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
