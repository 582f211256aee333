#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP test of the tools' command lines: --help, unknown options, bad ring
# names, missing rings, the missing module, wrong ring kinds, permission
# denied, and shmring-stat listing a ring made by the sensor producer
# (kind, size, --json). Runs in a few seconds on the /dev/shm fallback.
#
#   bash tools/test_tools.sh            (after `make tools`)
#   TOOLS_DIR=build/out/tools-asan bash tools/test_tools.sh
#
# Every command runs under timeout(1); every ring name contains the pid and
# is removed at the end. Exit status: 0 if every test passed, 1 otherwise.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T=${TOOLS_DIR:-$TOP/build/out/tools}
case $T in /*) ;; *) T=$TOP/$T ;; esac
STREAM=$T/shmring-stream
STAT=$T/shmring-stat
SENSOR=$T/shmring-sensor
TMO=${TOOLS_TEST_TIMEOUT:-20}
# The fallback, whatever the machine has: the rings are files we can clean.
export SHMRING_BACKEND=shm

P=tt-$$
MSG=$P-msg
STR=$P-stream
N=0
FAILED=0
OUT=$(mktemp -d)
chmod 755 "$OUT"

cleanup() {
	rm -f /dev/shm/shmring."$P"-* /dev/shm/shmring-bell."$P"-*
	rm -rf "$OUT"
}
trap cleanup EXIT

for b in "$STREAM" "$STAT" "$SENSOR"; do
	if [ ! -x "$b" ]; then
		echo "1..0 # SKIP $b not built (run make tools)"
		exit 0
	fi
done

ok() { N=$((N + 1)); echo "ok $N - $1"; }
notok() {
	N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"
	sed 's/^/#   stdout: /' "$OUT/o" | head -5
	sed 's/^/#   stderr: /' "$OUT/e" | head -5
}
skip() { N=$((N + 1)); echo "ok $N - $1 # SKIP $2"; }

# run CMD...: stdout to $OUT/o, stderr to $OUT/e, status in RC
run() {
	timeout -k 2 "$TMO" "$@" >"$OUT/o" 2>"$OUT/e" </dev/null
	RC=$?
}

# expect DESC RC [STDERR-REGEX] -- CMD...
expect() {
	local desc=$1 want=$2 re=$3
	shift 4
	run "$@"
	if [ "$RC" -ne "$want" ]; then
		notok "$desc (exit $RC, want $want)"
	elif [ -n "$re" ] && ! grep -Eq "$re" "$OUT/e"; then
		notok "$desc (stderr lacks /$re/)"
	elif [ "$want" -ne 0 ] && [ "$(wc -l <"$OUT/e")" -ne 1 ]; then
		notok "$desc (want exactly one error line)"
	else
		ok "$desc"
	fi
}

# ---- --help, unknown options, bad names --------------------------------
for t in "stream:$STREAM help" "stat:$STAT --help" "sensor:$SENSOR --help" \
	 "sensor-consume:$SENSOR consume --help"; do
	name=${t%%:*}; cmd=${t#*:}
	# shellcheck disable=SC2086
	run $cmd
	if [ "$RC" -eq 0 ] && grep -q '^usage: ' "$OUT/o"; then
		ok "$name: --help exits 0 and prints usage"
	else
		notok "$name: --help exits 0 and prints usage (exit $RC)"
	fi
done

expect "stream: unknown option -> 2" 2 "unknown|unrecognized|invalid" -- \
	"$STREAM" read "$STR" --bogus
expect "stat: unknown option -> 2" 2 "unknown option '--bogus'" -- "$STAT" --bogus
expect "sensor: unknown option -> 2" 2 "unknown option '--bogus'" -- \
	"$SENSOR" produce "$MSG" --bogus
expect "sensor: unknown command -> 2" 2 "unknown command" -- "$SENSOR" fly
expect "sensor: bad --rate -> 2" 2 "bad value '0' for --rate" -- \
	"$SENSOR" produce "$MSG" --rate 0
expect "stat: bad --kind -> 2" 2 "bad --kind" -- "$STAT" --kind tube

expect "stream: bad ring name -> 2" 2 "name" -- "$STREAM" read 'bad/name'
expect "stat: bad ring name -> 2" 2 "bad ring name" -- "$STAT" 'bad/name'
expect "sensor: bad ring name -> 2" 2 "bad ring name" -- "$SENSOR" consume 'bad name'

# ---- missing ring ------------------------------------------------------
expect "stream: missing ring -> 3" 3 "No such file" -- \
	"$STREAM" read "$P-none" --timeout 2
expect "stat: missing ring -> 3" 3 "no ring of that name" -- "$STAT" "$P-none"
expect "sensor consume: missing ring -> 3" 3 "no ring of that name" -- \
	"$SENSOR" consume "$P-none"

# ---- --backend device without the module -------------------------------
if [ -e /dev/shmring ]; then
	skip "stream: --backend device without the module -> 3" "/dev/shmring exists"
	skip "stat: --backend device without the module -> 3" "/dev/shmring exists"
	skip "sensor: --backend device without the module -> 3" "/dev/shmring exists"
else
	expect "stream: --backend device without the module -> 3 with a hint" 3 \
		"insmod|load the module" -- \
		"$STREAM" read "$STR" --create --backend device --timeout 2
	expect "stat: --backend device without the module -> 3 with a hint" 3 \
		"load the module" -- "$STAT" --backend device
	expect "sensor: --backend device without the module -> 3 with a hint" 3 \
		"load the module" -- "$SENSOR" produce "$MSG" --backend device --duration 0.1
fi

# ---- a ring made by the sensor producer, seen by shmring-stat ----------
run "$SENSOR" produce "$MSG" --rate 1000 --duration 0.2 --ring 256K --quiet
if [ "$RC" -eq 0 ] && grep -q "200 records sent" "$OUT/e"; then
	ok "sensor produce: 200 records into a 256K ring without a consumer"
else
	notok "sensor produce: 200 records into a 256K ring without a consumer (exit $RC)"
fi

run "$STAT" --backend shm "$MSG"
line=$(grep "^$MSG " "$OUT/o")
if [ "$RC" -eq 0 ] && [ "$(echo "$line" | awk '{print $2, $3, $4}')" = "shm msg 256K" ]; then
	ok "stat: lists the sensor ring as shm, msg, 256K"
else
	notok "stat: lists the sensor ring as shm, msg, 256K (exit $RC: $line)"
fi

run "$STAT" --backend shm --json "$MSG"
if [ "$RC" -eq 0 ] && python3 -m json.tool "$OUT/o" >/dev/null 2>&1 &&
   python3 - "$OUT/o" "$MSG" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d["rings"] if x["name"] == sys.argv[2]]
assert len(r) == 1, r
r = r[0]
assert r["kind"] == "msg" and r["status"] == "ok", r
assert r["data_bytes"] == 262144 and r["capacity"] == 262144, r
assert r["messages"] == 200 and r["drops"] == 0, r
assert 0 < r["used"] <= 262144, r
EOF
then
	ok "stat --json parses (python3 -m json.tool) with kind msg, 256K, 200 messages"
else
	notok "stat --json parses (python3 -m json.tool) with kind msg, 256K, 200 messages"
fi

run "$STAT" --backend shm --json --watch 0.2 --count 2 "$MSG"
if [ "$RC" -eq 0 ] && [ "$(wc -l <"$OUT/o")" -eq 2 ] &&
   head -1 "$OUT/o" | python3 -m json.tool >/dev/null 2>&1 &&
   head -1 "$OUT/o" | grep -q '"messages_per_s":0.0'; then
	ok "stat --watch --count 2 --json: two reports with a rate"
else
	notok "stat --watch --count 2 --json: two reports with a rate (exit $RC)"
fi

# ---- wrong ring kind ---------------------------------------------------
expect "stat --kind stream on a msg ring -> 3" 3 "a msg ring, not stream" -- \
	"$STAT" --backend shm --kind stream "$MSG"
expect "stream read on a msg ring -> 3" 3 "" -- "$STREAM" read "$MSG" --timeout 2

run "$STREAM" read "$STR" --create --keep --timeout 1
if [ -e /dev/shm/shmring."$STR" ]; then
	expect "sensor consume on a stream ring -> 3 (another kind)" 3 "another kind" -- \
		"$SENSOR" consume "$STR"
	expect "sensor produce on a stream ring -> 3 (another kind)" 3 "another kind" -- \
		"$SENSOR" produce "$STR" --duration 0.1
else
	notok "could not make a stream ring for the wrong-kind tests (exit $RC)"
fi

# ---- permission denied -------------------------------------------------
asuser=
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	if command -v setpriv >/dev/null 2>&1; then
		asuser="setpriv --reuid=nobody --regid=nogroup --clear-groups"
		id -g nogroup >/dev/null 2>&1 || asuser="setpriv --reuid=nobody --regid=65534 --clear-groups"
	elif command -v runuser >/dev/null 2>&1; then
		asuser="runuser -u nobody --"
	fi
fi
if [ -z "$asuser" ] || ! $asuser test -x "$STAT" 2>/dev/null; then
	skip "permission denied -> 3" "not root, no user nobody, or tools not reachable by nobody"
	skip "stat shows EACCES" "as above"
	skip "stream read as nobody -> 3" "as above"
else
	# shellcheck disable=SC2086
	expect "sensor consume as nobody on a 0600 ring -> 3 (permission)" 3 \
		"Permission denied" -- $asuser "$SENSOR" consume "$MSG"
	# shellcheck disable=SC2086
	expect "stream read as nobody on a 0600 ring -> 3 (permission)" 3 \
		"Permission denied" -- $asuser "$STREAM" read "$STR" --timeout 2
	# shellcheck disable=SC2086
	run $asuser "$STAT" --backend shm "$P-*"
	if [ "$RC" -eq 0 ] && grep -q "^$MSG .*EACCES" "$OUT/o"; then
		ok "stat as nobody: lists the 0600 ring as EACCES, exit 0"
	else
		notok "stat as nobody: lists the 0600 ring as EACCES, exit 0 (exit $RC)"
	fi
fi

# ---- the consumer drains the producer's records and unlinks --------------
run "$SENSOR" consume "$MSG" --json
if [ "$RC" -eq 0 ] && python3 - "$OUT/o" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["done"] and d["records"] == 200 and d["gaps"] == 0 and d["corrupt"] == 0, d
assert d["imu"] == 180 and d["lidar"] == 10 and d["camera"] == 10, d
EOF
then
	ok "sensor consume: 200 checked records (180 imu, 10 lidar, 10 camera), done"
else
	notok "sensor consume: 200 checked records (180 imu, 10 lidar, 10 camera), done (exit $RC)"
fi
if [ ! -e /dev/shm/shmring."$MSG" ]; then
	ok "sensor consume unlinked the ring after the end of the stream"
else
	notok "sensor consume unlinked the ring after the end of the stream"
fi

# ---- a producer killed mid-stream: the consumer fails, it does not hang --
K=$P-killed
# (bounded by its own --duration; $! is the producer itself)
"$SENSOR" produce "$K" --rate 1000 --duration 30 --quiet 2>/dev/null &
kp=$!
i=0
while [ ! -e /dev/shm/shmring."$K" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
sleep 0.3
{ kill -KILL "$kp"; wait "$kp"; } 2>/dev/null
expect "sensor consume after the producer was killed -> 1 (producer died)" 1 \
	"producer \(pid [0-9]+\) died" -- "$SENSOR" consume "$K" --timeout 5

# ---- a corrupt ring is shown as corrupt, not a crash -------------------
C=$P-corrupt
head -c 65536 /dev/urandom >/dev/shm/shmring."$C"
# A valid CTRL magic (0x53484d43, little-endian), so the deeper checks run.
printf 'CMHS' | dd of=/dev/shm/shmring."$C" bs=1 seek=0 conv=notrunc status=none
run "$STAT" --backend shm "$C"
if [ "$RC" -eq 0 ] && grep -q "^$C .*corrupt" "$OUT/o"; then
	ok "stat: a garbage ring file is listed as corrupt"
else
	notok "stat: a garbage ring file is listed as corrupt (exit $RC)"
fi

# ---- the whole demo, briefly -------------------------------------------
run "$SENSOR" run --rate 2000 --duration 1 --json
if [ "$RC" -eq 0 ] && python3 - "$OUT/o" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["done"] and d["corrupt"] == 0 and not d["lost"], d
assert d["records"] + d["drops"] == 2000, d
EOF
then
	ok "sensor run: 2000 records sent = received + dropped, none corrupt"
else
	notok "sensor run: 2000 records sent = received + dropped, none corrupt (exit $RC)"
fi

echo "1..$N"
[ "$FAILED" -eq 0 ]
