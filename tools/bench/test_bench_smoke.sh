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
echo "1..14"

if [ -z "${SHMRING_BENCH:-}" ]; then
	if ! make -s -C "$top/tools/bench" >"$tmp/build.log" 2>&1; then
		sed 's/^/# /' "$tmp/build.log" | tail -20
	fi
fi
if [ ! -x "$bench" ]; then
	notok "shmring-bench builds ($bench)"
	for _ in $(seq 2 14); do notok "skipped: no binary"; done
	exit 1
fi
ok "shmring-bench is built"

nproc_ok=$(nproc)
if [ "$nproc_ok" -lt 2 ]; then
	for _ in $(seq 2 14); do n=$((n + 1)); echo "ok $n # SKIP needs 2 CPUs"; done
	exit 0
fi

count_rings() {
	local f c=0
	for f in /dev/shm/shmring.shmring-bench-* /dev/shm/shmring-bell.shmring-bench-*; do
		[ -e "$f" ] && c=$((c + 1))
	done
	echo $c
}
before=$(count_rings)

# --help documents the options and exits 0
"$bench" --help >"$tmp/help" 2>&1
rc=$?
check "--help exits 0 and lists --quick, --json, --csv, --sizes, --plot, --wait, --quiet" \
	test $rc -eq 0 -a -n "$(grep -e --quick "$tmp/help")" \
	     -a -n "$(grep -e --json "$tmp/help")" -a -n "$(grep -e --csv "$tmp/help")" \
	     -a -n "$(grep -e --sizes "$tmp/help")" -a -n "$(grep -e --plot "$tmp/help")" \
	     -a -n "$(grep -e --wait "$tmp/help")" -a -n "$(grep -e --quiet "$tmp/help")"

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

# more bad input: sizes out of range or not numbers, unknown kind among good
# ones, unknown wait mode, a --plot path that cannot be a directory
badrc=""
for args in "--sizes 65544" "--sizes 8,abc" "--sizes 0" "--kinds msg,pipe,ck_ring" \
	    "--wait nap" "--plot /proc/version/x" "--sleep-pace-ns 5"; do
	# shellcheck disable=SC2086
	timeout 10 "$bench" $args >"$tmp/badx" 2>&1
	rc=$?
	if [ $rc -ne 2 ] || ! grep -q 'invalid' "$tmp/badx"; then
		badrc="$badrc [$args: rc $rc]"
	fi
done
check "bad size, unknown kind, bad --wait/--plot/--sleep-pace-ns exit 2 with a message$badrc" \
	test -z "$badrc"

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
          "shmring-bcast-1c", "shmring-bcast-3c", "shmring-stream",
          "ck_ring", "rte_ring", "boost_spsc", "pipe", "af_unix", "eventfd", "memcpy"}
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
    if s["cores"] != ("one" if k == "memcpy" else "cross") or not s["where"]:
        bad.append("%s: cores %r where %r" % (k, s["cores"], s["where"]))
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
        if not (l["p50"] <= l["p90"] <= l["p99"] <= l["p999"] <= l["max"]) or l["n"] <= 0:
            bad.append("%s %s: latency percentiles %r" % (k, s["size"], l))
        lat[k] += 1
for k in expect:
    if not moved[k]:
        bad.append("%s moved nothing" % k)
for k in ("shmring-msg", "shmring-stream", "ck_ring", "rte_ring", "boost_spsc", "pipe",
          "af_unix", "eventfd"):
    if not lat[k]:
        bad.append("%s: no latency sample" % k)
print("\n".join(bad) if bad else "fine")
sys.exit(1 if bad else 0)
EOF
rc=$?
sed 's/^/# /' "$tmp/py"
check "JSON parses; every kind and peer moved records, zero loss" test $rc -eq 0

# not a terminal: no progress line (carriage returns) on stderr
check "no progress line on stderr when it is not a terminal" \
	test "$(tr -cd '\r' <"$tmp/err" | wc -c)" -eq 0

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

# --sizes: any multiple of 8; ck_ring and Boost only at powers of two (n/a)
timeout 100 "$bench" --quick --json --sizes 16,24,65536 --kinds msg,stream,ck,boost,pipe \
	--lat-sizes none --no-placement --timeout 30 >"$tmp/sizes.json" 2>"$tmp/err.sizes"
rc=$?
python3 - "$tmp/sizes.json" >"$tmp/py" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
got = {(s["kind"], s["size"]): s for s in d["samples"]}
bad = []
for k in ("shmring-msg", "shmring-stream", "pipe", "ck_ring", "boost_spsc"):
    for z in (16, 24, 65536):
        s = got.get((k, z))
        if s is None:
            bad.append("%s %d missing" % (k, z))
        elif k in ("ck_ring", "boost_spsc") and z == 24:
            if s["ok"] or not s.get("skipped"):
                bad.append("%s 24: should be n/a" % k)
        elif not s["ok"] or s["received"] != s["sent"] or s["received"] <= 0:
            bad.append("%s %d: %r" % (k, z, s))
print("\n".join(bad) if bad else "fine")
sys.exit(1 if bad else 0)
EOF
prc=$?
sed 's/^/# /' "$tmp/py"
check "--sizes 16,24,65536: every kind ran and verified, ck/boost n/a at 24 (rc $rc)" \
	test $rc -eq 0 -a $prc -eq 0

# --wait sleep: sleeping consumers next to the blocking kernel peers
timeout 100 "$bench" --quick --json --wait sleep --kinds msg,bcast1,mpsc1,pipe,eventfd \
	--sizes 8 --lat-sizes 8 --lat-msgs 3000 --no-placement --timeout 30 \
	>"$tmp/sleep.json" 2>"$tmp/err.sleep"
rc=$?
python3 - "$tmp/sleep.json" >"$tmp/py" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
lat = {s["kind"]: s for s in d["samples"] if s["mode"] == "latency"}
bad = []
want = {"shmring-msg": "sleep", "shmring-bcast-1c": "sleep", "pipe": "block",
        "eventfd": "block"}
for k, w in want.items():
    s = lat.get(k)
    if not s or not s["ok"]:
        bad.append("%s: %r" % (k, s))
        continue
    l = s["lat_ns"]
    if s["wait"] != w or l["n"] != 300 or not l["p50"] <= l["p90"] <= l["max"]:
        bad.append("%s: wait %s n %d %r" % (k, s["wait"], l["n"], l))
    if not 0 < l["p50"] < 10**10:
        bad.append("%s: p50 %r" % (k, l["p50"]))
m = lat.get("shmring-mpsc-1p")
if not m or m["ok"] or not m.get("skipped"):
    bad.append("mpsc-1p has no sleeping wait yet: should be n/a, is %r" % m)
print("\n".join(bad) if bad else "fine")
sys.exit(1 if bad else 0)
EOF
prc=$?
sed 's/^/# /' "$tmp/py"
check "--wait sleep: msg and bcast sleep, pipe/eventfd block, mpsc n/a (rc $rc)" \
	test $rc -eq 0 -a $prc -eq 0

# --plot: PNG files (magic bytes) and their data
timeout 100 "$bench" --quick --kinds msg,boost,pipe,memcpy --sizes 64,1024 --lat-sizes 8 \
	--lat-msgs 2000 --no-placement --timeout 30 --plot "$tmp/plots" >"$tmp/plot.out" 2>&1
rc=$?
pngs=""
for f in throughput bandwidth latency-8; do
	if [ "$(head -c 8 "$tmp/plots/$f.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" \
	     != "89504e470d0a1a0a" ]; then
		pngs="$pngs $f.png"
	fi
done
if [ $rc -ne 0 ]; then tail -5 "$tmp/plot.out" | sed 's/^/# /'; fi
if command -v gnuplot >/dev/null; then
	check "--plot writes valid PNGs (rc $rc, bad:${pngs:- none})" \
		test $rc -eq 0 -a -z "$pngs" -a -s "$tmp/plots/throughput.dat"
else
	n=$((n + 1)); echo "ok $n # SKIP gnuplot not installed (gnuplot-nox)"
fi

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
check "no shmring-bench ring or bell file left in /dev/shm (before $before, after $after)" \
	test "$after" -le "$before"

exit $((fails > 0))
