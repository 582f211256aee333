#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Smoke test of shmring-bench (TAP on stdout). Runs the tool's --quick mode
# and checks that its output parses and that every ring kind and peer moved
# records with zero loss: every record sent was received (broadcast: every
# entry was received or counted as missed, by every consumer), and no
# sample failed verification. No timing is asserted.
#
#   bash tools/bench/test_bench_smoke.sh            (builds the tool first)
#   SHMRING_BENCH=/path/to/shmring-bench bash tools/bench/test_bench_smoke.sh
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
bench=${SHMRING_BENCH:-$top/build/out/tools/shmring-bench}
tmp=$(mktemp -d /tmp/shmring-bench-smoke.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else notok "$what"; fi; }

echo "TAP version 13"
echo "1..9"

if [ -z "${SHMRING_BENCH:-}" ]; then
	if ! make -s -C "$top/tools/bench" >"$tmp/build.log" 2>&1; then
		sed 's/^/# /' "$tmp/build.log" | tail -20
	fi
fi
if [ ! -x "$bench" ]; then
	notok "shmring-bench builds ($bench)"
	for i in 2 3 4 5 6 7 8 9; do notok "skipped: no binary"; done
	exit 1
fi
ok "shmring-bench is built"

nproc_ok=$(nproc)
if [ "$nproc_ok" -lt 2 ]; then
	for i in 2 3 4 5 6 7 8 9; do n=$((n + 1)); echo "ok $n # SKIP needs 2 CPUs"; done
	exit 0
fi

count_rings() { ls /dev/shm 2>/dev/null | grep -c '^shmring\.shmring-bench-' || true; }
before=$(count_rings)

# --help documents the options and exits 0
"$bench" --help >"$tmp/help" 2>&1
rc=$?
check "--help exits 0 and lists --quick, --json, --csv" \
	test $rc -eq 0 -a -n "$(grep -e --quick "$tmp/help")" \
	     -a -n "$(grep -e --json "$tmp/help")" -a -n "$(grep -e --csv "$tmp/help")"

# bad input: a clear message and exit status 2, never a run
"$bench" --sizes 7 >"$tmp/bad1" 2>&1
rc1=$?
"$bench" --kinds msg,nosuch >"$tmp/bad2" 2>&1
rc2=$?
"$bench" --cpus 0,0 >"$tmp/bad3" 2>&1
rc3=$?
check "bad --sizes/--kinds/--cpus exit 2 with a message" \
	test $rc1 -eq 2 -a $rc2 -eq 2 -a $rc3 -eq 2 \
	     -a -n "$(grep -e 'invalid --sizes' "$tmp/bad1")" \
	     -a -n "$(grep -e 'invalid --kinds' "$tmp/bad2")" \
	     -a -n "$(grep -e 'invalid --cpus' "$tmp/bad3")"

# the quick run, JSON; a watchdog bounds it
timeout 200 "$bench" --quick --json --timeout 30 >"$tmp/out.json" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ]; then
	sed 's/^/# /' "$tmp/err" | tail -20
fi
check "--quick --json exits 0 (rc $rc)" test $rc -eq 0

python3 - "$tmp/out.json" >"$tmp/py" 2>&1 <<'EOF'
import json, sys

d = json.load(open(sys.argv[1]))
kinds = {k["name"]: k for k in d["kinds"]}
expect = {"shmring-msg", "shmring-mpsc-1p", "shmring-mpsc-2p", "shmring-mpsc-2p-b32",
          "shmring-bcast-1c",
          "shmring-bcast-3c", "ck_ring", "rte_ring", "boost_spsc"}
ncons = {"shmring-bcast-3c": 3}
bad = []
if set(kinds) != expect:
    bad.append("kinds %s" % sorted(kinds))
moved = {k: 0 for k in expect}
lat = {k: 0 for k in expect}
for s in d["samples"]:
    k = s["kind"]
    if not s["ok"]:
        if not s.get("skipped"):
            bad.append("%s %s failed: %s" % (k, s["size"], s.get("error")))
        continue
    if s["placement"] not in ("near", "far", "mixed", "other", "emulated", "n/a"):
        bad.append("%s: placement %r" % (k, s["placement"]))
    c = ncons.get(k, 1)
    if k.startswith("shmring-bcast"):
        if s["received"] + s["missed"] != s["sent"] * c:
            bad.append("%s %s: received %d + missed %d != %d x %d sent" %
                       (k, s["size"], s["received"], s["missed"], c, s["sent"]))
    elif s["received"] != s["sent"] or s["missed"]:
        bad.append("%s %s: sent %d received %d" % (k, s["size"], s["sent"], s["received"]))
    if s["received"] <= 0:
        bad.append("%s %s: nothing received" % (k, s["size"]))
    if s["mode"] == "throughput":
        if not s["msgs_per_s"] > 0:
            bad.append("%s %s: rate %r" % (k, s["size"], s["msgs_per_s"]))
        moved[k] += s["received"]
    else:
        l = s["lat_ns"]
        if not (l["p50"] <= l["p99"] <= l["p999"] <= l["max"]) or l["n"] <= 0:
            bad.append("%s %s: latency percentiles %r" % (k, s["size"], l))
        lat[k] += 1
for k in expect:
    if not moved[k]:
        bad.append("%s moved nothing" % k)
for k in ("shmring-msg", "ck_ring", "rte_ring", "boost_spsc"):
    if not lat[k]:
        bad.append("%s: no latency sample" % k)
print("\n".join(bad) if bad else "fine")
sys.exit(1 if bad else 0)
EOF
rc=$?
sed 's/^/# /' "$tmp/py"
check "JSON parses; every kind and peer moved records, zero loss" test $rc -eq 0

python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ok = [s for s in d["samples"] if s["ok"] and s["mode"] == "throughput"
      and s["kind"] in ("shmring-msg", "ck_ring", "rte_ring", "boost_spsc")]
sizes = {(s["kind"], s["size"]) for s in ok}
need = {(k, z) for k in ("shmring-msg", "ck_ring", "rte_ring", "boost_spsc")
        for z in (8, 64, 512, 4096)}
sys.exit(0 if need <= sizes else 1)' "$tmp/out.json"
check "SPSC kinds and all three peers ran at 8, 64, 512 and 4096 bytes" test $? -eq 0

# CSV: a header and one row per sample, all ok
timeout 60 "$bench" --quick --csv --kinds msg,ck --sizes 64 --lat-sizes none \
	--no-placement >"$tmp/out.csv" 2>"$tmp/err.csv"
rc=$?
rows=$(tail -n +2 "$tmp/out.csv" | wc -l)
okrows=$(tail -n +2 "$tmp/out.csv" | awk -F, '$5 == 1' | wc -l)
check "--csv: header and 2 ok rows (rc $rc, rows $rows, ok $okrows)" \
	test $rc -eq 0 -a "$rows" -eq 2 -a "$okrows" -eq 2 \
	     -a "$(head -1 "$tmp/out.csv" | cut -d, -f1-3)" = "kind,size,round"

# no module: --backend device is a clear "no ring memory" (exit 3), not a crash
if [ -e /dev/shmring ]; then
	n=$((n + 1)); echo "ok $n # SKIP /dev/shmring exists (module loaded)"
else
	timeout 30 "$bench" --quick --backend device --kinds msg --sizes 8 --lat-sizes none \
		--no-placement >/dev/null 2>"$tmp/err.dev"
	rc=$?
	check "--backend device without the module exits 3 with a hint (rc $rc)" \
		test $rc -eq 3 -a -n "$(grep -e '/dev/shmring' "$tmp/err.dev")"
fi

# no ring name left behind in /dev/shm by the runs above
after=$(count_rings)
check "no shmring-bench ring left in /dev/shm (before $before, after $after)" \
	test "$after" -le "$before"

exit $((fails > 0))
