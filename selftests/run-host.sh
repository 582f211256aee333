#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The host test lane: build libshmring and every selftests/lib/test_*.c in
# the plain, asan (ASan+UBSan) and tsan variants, run each binary with
# SHMRING_BACKEND=shm (the userspace fallback; no module on the host) under
# a timeout, and pass the kselftest TAP through with the variant in each
# test name ("ok 3 asan/hdr.wrong_kind"). Other output is "# " comments.
# A binary that does not build, crashes, times out or stops before its plan
# gets its own "not ok N <variant>/<binary> ..." line. Exits non-zero if
# anything failed.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: selftests/run-host.sh [--variants "plain asan tsan"] [--only GLOB] [-h]

Build and run the library selftests on the host (SHMRING_BACKEND=shm).

  --variants LIST  variants to build and run (default: "plain asan tsan";
                   also "static")
  --only GLOB      run only binaries whose name matches the shell glob,
                   e.g. 'test_region'
  -h, --help       this text

Also lints userlib/src/*.c with gcc -fanalyzer (one TAP line).

Environment: SHMRING_TEST_TIMEOUT seconds per binary (default 300),
SHMRING_HOST_VARIANTS (same as --variants), SHMRING_NO_ANALYZER=1 skips
the lint.
USAGE
}

variants=${SHMRING_HOST_VARIANTS:-"plain asan tsan"}
only='test_*'
while [ $# -gt 0 ]; do
	case $1 in
	--variants) [ $# -ge 2 ] || { echo "run-host: --variants needs a list" >&2; exit 2; }
		variants=$2; shift 2 ;;
	--only) [ $# -ge 2 ] || { echo "run-host: --only needs a glob" >&2; exit 2; }
		only=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run-host: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
for v in $variants; do
	case $v in
	plain|asan|tsan|static) ;;
	*) echo "run-host: unknown variant '$v' (plain, asan, tsan, static)" >&2; exit 2 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
tmo=${SHMRING_TEST_TIMEOUT:-300}
logdir=build/logs/host
mkdir -p "$logdir"

n=0 failed=0
notok() {	# notok <text>: a lane-level failure line
	n=$((n + 1))
	echo "not ok $n $1"
	failed=1
}
comment() { sed 's/^/# /'; }

if [ ! -f build/kernel-files/tools/testing/selftests/kselftest_harness.h ]; then
	bash scripts/install-deps.sh 2>&1 | comment
fi

# Quick lint: GCC's static analyzer over the library sources.
if [ "${SHMRING_NO_ANALYZER:-0}" != 1 ]; then
	alog=$logdir/analyzer.log
	: >"$alog"
	for f in userlib/src/*.c; do
		${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -fanalyzer \
			-I userlib/include -I include/uapi -c "$f" -o /dev/null >>"$alog" 2>&1
	done
	if grep -qE 'warning|error' "$alog"; then
		comment <"$alog"
		notok "host: gcc -fanalyzer on userlib/src"
	else
		n=$((n + 1))
		echo "ok $n host: gcc -fanalyzer on userlib/src"
	fi
fi

srcs=$(cd selftests/lib && ls test_*.c 2>/dev/null)
if [ -z "$srcs" ]; then
	notok "host: no selftests/lib/test_*.c"
	exit 1
fi

for v in $variants; do
	outdir=build/out/selftests/lib/$v
	echo "# === variant $v"
	# -k: one broken test must not keep the others from building.
	built=1
	if ! make -k -s -C selftests/lib "$v" >"$logdir/build-$v.log" 2>&1; then
		built=0
		echo "# build of variant $v had errors (build/logs/host/build-$v.log):"
		tail -n 30 "$logdir/build-$v.log" | comment
	fi

	# The shared library exports the public API only.
	if [ "$v" = plain ] && [ -f build/out/lib/libshmring.so.1 ]; then
		extra=$(nm -D --defined-only build/out/lib/libshmring.so.1 |
			awk '{ print $3 }' | grep -v -e '^shmring_' -e '^SHMRING_' || true)
		if [ -z "$extra" ]; then
			n=$((n + 1))
			echo "ok $n host: libshmring.so.1 exports only shmring_* symbols"
		else
			echo "$extra" | comment
			notok "host: libshmring.so.1 exports symbols outside shmring_*"
		fi
	fi

	case $v in
	asan)
		export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23
		export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
		unset TSAN_OPTIONS ;;
	tsan)
		export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
		unset ASAN_OPTIONS UBSAN_OPTIONS ;;
	*)
		unset ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS ;;
	esac

	for src in $srcs; do
		name=${src%.c}
		# shellcheck disable=SC2053
		[[ $name == $only ]] || continue
		bin=$outdir/$name
		# After a failed build, a binary left over from an earlier build
		# is not this source: it must be up to date to run.
		if [ ! -x "$bin" ] || { [ $built = 0 ] &&
			! make -s -q -C selftests/lib "$top/$bin" >/dev/null 2>&1; }; then
			notok "$v/$name build failed"
			continue
		fi
		log=$logdir/$v-$name.log
		start=$(date +%s)
		{ SHMRING_BACKEND=shm timeout -k 10 "$tmo" "$bin"; } >"$log" 2>&1
		rc=$?
		plan=$(sed -nE 's/^1\.\.([0-9]+)$/\1/p' "$log" | head -1)
		results=$(grep -cE '^(not )?ok [0-9]+' "$log")
		nfail=$(grep -cE '^not ok [0-9]+' "$log")
		# TAP through with the variant in the name; the rest as comments.
		sed -E -e "s,^(not )?ok ([0-9]+) ,&$v/," \
		       -e '/^(not )?ok [0-9]+ /!{/^#/!s/^/# /}' "$log"
		echo "# $v/$name: rc $rc, $results of ${plan:-?} results, $(( $(date +%s) - start )) s"
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			notok "$v/$name timed out after ${tmo} s or was killed (rc $rc)"
		elif [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
			notok "$v/$name crashed (rc $rc)"
		elif [ -z "$plan" ] || [ "$results" -lt "$plan" ]; then
			notok "$v/$name stopped after $results of ${plan:-?} results (rc $rc)"
		fi
		[ "$rc" -ne 0 ] || [ "$nfail" -ne 0 ] && failed=1
	done
done

# Other TAP suites of the host lane: programs outside selftests/lib that
# print their own "ok N" / "not ok N" lines and exit non-zero on failure.
extra_suites=(
	"python python3 python/test_bcast_reader.py"
	"bench bash tools/bench/test_bench_smoke.sh"
	"tools bash tools/test_tools.sh"
	"install bash scripts/test-install.sh"
	"dkms bash packaging/test-dkms.sh"
)
if [[ $only == 'test_*' ]]; then
	for suite in "${extra_suites[@]}"; do
		tag=${suite%% *} cmd=${suite#* }
		script=${cmd#* }
		[ -f "${script%% *}" ] || continue
		log=$logdir/extra-$tag.log
		{ SHMRING_BACKEND=shm timeout -k 10 "$tmo" $cmd; } >"$log" 2>&1
		rc=$?
		nfail=$(grep -cE '^not ok [0-9]+' "$log")
		sed -E -e "s,^(not )?ok ([0-9]+) ,&$tag/," \
		       -e '/^(not )?ok [0-9]+ /!{/^#/!s/^/# /}' "$log"
		if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
			notok "$tag: $cmd failed (rc $rc)"
		fi
		[ "$rc" -ne 0 ] && failed=1
	done
fi
exit $failed
