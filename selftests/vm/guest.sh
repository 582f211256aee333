# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the VM as /t/run.sh (busybox sh), copied there by run-vm.sh.
# /t holds: lane.env (FLAVOUR=...), shmring.ko, kmod/test_*, lib/test_*.
# Prints kselftest TAP: the test binaries' own lines, plus this lane's
# checks as "ok N vm-<flavour>: <check>". Exit status 0 only if all passed.

. /t/lane.env
n=0
failed=0
# The OOM killer must pick a test, never this runner: a test that drives the
# guest out of memory then fails on its own and the lane goes on.
echo -1000 >/proc/$$/oom_score_adj
# Per-binary watchdog (the harness also kills a test after its own timeout).
bin_timeout=${BIN_TIMEOUT:-300}

check() {	# check <0|1 status> <name>
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n vm-$FLAVOUR: $2"
	else
		echo "not ok $n vm-$FLAVOUR: $2"
		failed=1
	fi
}

echo "# vm-$FLAVOUR: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus, $(grep MemTotal /proc/meminfo | tr -s ' ')"
kmemleak=/sys/kernel/debug/kmemleak
if [ -e $kmemleak ]; then
	# Forget whatever the boot itself leaked; only our run counts.
	echo scan >$kmemleak
	echo clear >$kmemleak
fi
dmesg -c >/dev/null

insmod /t/shmring.ko
ins=$?
check $ins "insmod shmring.ko"
[ $ins = 0 ] || dmesg | sed 's/^/# dmesg: /'
if [ $ins = 0 ]; then
	[ -c /dev/shmring ]
	check $? "/dev/shmring is a character device"
fi

run_bin() {	# run_bin <label> <binary> [env assignments...]
	label=$1 bin=$2
	shift 2
	echo "# vm-$FLAVOUR: running $label"
	t0=$(date +%s)
	env "$@" timeout $bin_timeout sh -c 'echo 0 >/proc/self/oom_score_adj; exec "$0"' "$bin"
	rc=$?
	dt=$(( $(date +%s) - t0 ))
	if [ $rc = 0 ]; then
		check 0 "$label exited 0 (${dt} s)"
	else
		[ $rc = 143 ] && echo "# vm-$FLAVOUR: $label killed by the ${bin_timeout}s watchdog"
		[ $rc = 137 ] && echo "# vm-$FLAVOUR: $label killed by SIGKILL (the OOM killer?)"
		check 1 "$label exited $rc (${dt} s)"
	fi
}

if [ $ins = 0 ]; then
	for t in /t/kmod/test_*; do
		[ -x "$t" ] || continue
		run_bin "kmod/${t##*/}" "$t"
	done
	for t in /t/lib/test_*; do
		[ -x "$t" ] || continue
		run_bin "lib/${t##*/} (device backend)" "$t" SHMRING_BACKEND=device
	done

	if grep -q '^shmring ' /proc/modules; then
		rmmod shmring
		check $? "rmmod shmring"
	else
		check 1 "shmring still loaded before rmmod"
	fi
fi

if [ -e $kmemleak ]; then
	# Two scans a few seconds apart: objects must be seen unreferenced twice.
	echo scan >$kmemleak
	sleep 5
	echo scan >$kmemleak
	leaks=$(cat $kmemleak)
	if [ -n "$leaks" ]; then
		echo "$leaks" | sed 's/^/# kmemleak: /'
		check 1 "kmemleak scan is empty"
	else
		check 0 "kmemleak scan is empty"
	fi
fi

# Case-sensitive on purpose: the command line holds "oops=panic".
bad=$(dmesg | grep -E 'WARNING:|BUG:|Oops|KASAN:|circular|sleeping function|kmemleak')
if [ -n "$bad" ]; then
	echo "# vm-$FLAVOUR: kernel log since insmod:"
	dmesg | sed 's/^/# dmesg: /'
	check 1 "dmesg has no WARNING/BUG/Oops/KASAN/lockdep/kmemleak reports"
else
	check 0 "dmesg has no WARNING/BUG/Oops/KASAN/lockdep/kmemleak reports"
fi
exit $failed
