#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""TAP test of python/shmring_bcast.py against the C producer.

Run from anywhere: python3 python/test_bcast_reader.py
Builds python/bcast_producer.c against build/out/lib/libshmring.a (running
`make -C userlib` first if the library is missing), then checks the NumPy
view: values, order, lapped rows skipped with exact counts, rows torn by a
concurrent producer never returned, mixed schemas, hostile contents.
Backend: $SHMRING_BACKEND (default shm); $SHMRING_BCAST_HELPER names a
prebuilt helper instead of building one. Prints "ok N"/"not ok N" lines and
exits 1 on any failure.
"""

import os
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:
    # A pyenv or venv python3 without NumPy: use Debian's python3-numpy.
    if os.path.exists("/usr/bin/python3") and \
            os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("SHMRING_PY_REEXEC"):
        os.environ["SHMRING_PY_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("1..1\nok 1 python reader # SKIP numpy not installed (python3-numpy)")
    sys.exit(0)

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import shmring_bcast as sb  # noqa: E402

BACKEND = os.environ.get("SHMRING_BACKEND") or "shm"
os.environ["SHMRING_BACKEND"] = BACKEND
# A prebuilt helper (e.g. static, in a VM without a compiler) may be given.
HELPER = os.environ.get("SHMRING_BCAST_HELPER") or \
    os.path.join(TOP, "build", "out", "python", "bcast_producer")
WATCHDOG_S = 30
results = []


def tap(ok, what, diag=""):
    results.append(ok)
    n = len(results)
    print("%s %d %s" % ("ok" if ok else "not ok", n, what))
    if diag and not ok:
        for line in str(diag).splitlines():
            print("# " + line)
    sys.stdout.flush()


def build_helper():
    lib = os.path.join(TOP, "build", "out", "lib", "libshmring.a")
    if not os.path.exists(lib):
        subprocess.run(["make", "-s", "-C", os.path.join(TOP, "userlib")],
                       check=True, stdout=subprocess.DEVNULL, timeout=300)
    os.makedirs(os.path.dirname(HELPER), exist_ok=True)
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra",
                    "-Werror", "-I", os.path.join(TOP, "userlib", "include"),
                    "-I", os.path.join(TOP, "include", "uapi"), "-o", HELPER,
                    os.path.join(HERE, "bcast_producer.c"), lib, "-lpthread"],
                   check=True, timeout=120)


def helper(*args, **kw):
    return subprocess.run([HELPER] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=WATCHDOG_S, **kw)


def ring(tag):
    return "tpy-%d-%s" % (os.getpid(), tag)


def unlink(name):
    helper(name, "--unlink")


def value(s, k):
    return np.asarray(s, dtype=np.float64) * 16 + k + 0.25


def check_f64_rows(seq, rows, ncols):
    """Every row's columns must be value(seq, k): a torn row fails."""
    if len(seq) == 0:
        return True
    t = np.stack([rows["c%d" % k] for k in range(ncols)], axis=1)
    want = np.stack([value(seq, k) for k in range(ncols)], axis=1)
    return bool(np.array_equal(t, want))


def shm_path(name):
    return os.path.join("/dev/shm", "shmring." + name)


def test_abi():
    out = helper("--abi")
    got = dict(line.split() for line in out.stdout.split("\n") if line)
    want = {"QUERY": sb.SHMRING_IOC_QUERY, "ATTACH": sb.SHMRING_IOC_ATTACH,
            "INFO": sb.SHMRING_IOC_INFO, "HDR_BYTES": sb.HDR_BYTES,
            "SCHEMA_OFFSET": sb.SCHEMA_OFFSET, "PROD_OFFSET": sb.PROD_OFFSET}
    bad = {k: (got.get(k), v) for k, v in want.items() if int(got.get(k, -1)) != v}
    tap(out.returncode == 0 and not bad, "abi constants match the C headers", bad)


def test_values_order():
    name = ring("vals")
    try:
        p = helper(name, "--capacity", 64, "--rows", 50, "--cols", 5)
        r = sb.BcastReader(name)
        seq, rows = r.snapshot()
        ok = p.returncode == 0 and list(seq) == list(range(50)) and \
            check_f64_rows(seq, rows, 5) and r.head() == 50
        t = r.as_f64(rows)
        ok = ok and t.shape == (50, 5) and \
            np.array_equal(t, np.stack([value(seq, k) for k in range(5)], 1))
        tap(ok, "table values and order, 50 rows in a 64-row ring, 2-D f64 view",
            "%s %s" % (p.stderr, seq[:5]))
        s2, r2, missed = r.read_new()
        s3, r3, m3 = r.read_new()
        tap(list(s2) == list(range(50)) and missed == 0 and len(s3) == 0 and
            m3 == 0, "read_new from the oldest, then nothing new")
        r.close()
    finally:
        unlink(name)


def test_lapped():
    name = ring("lap")
    try:
        p = helper(name, "--capacity", 64, "--rows", 1000, "--cols", 3)
        r = sb.BcastReader(name)
        r.cursor = 0   # a reader that last saw nothing, 1000 rows ago
        seq, rows, missed = r.read_new()
        ok = p.returncode == 0 and list(seq) == list(range(936, 1000)) and \
            missed == 936 and r.cursor == 1000 and check_f64_rows(seq, rows, 3)
        tap(ok, "lapped rows skipped, missed count exact (936 of 1000)",
            "missed %d seq %s..%s" % (missed, seq[:1], seq[-1:]))
        r.close()
    finally:
        unlink(name)


def test_concurrent():
    """A producer streams while we snapshot: no torn row is ever returned
    and every gap is counted."""
    name = ring("live")
    prod = subprocess.Popen([HELPER, name, "--stream", "--capacity", "2048",
                             "--cols", "8", "--pace-ns", "300"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        line = prod.stdout.readline()
        if not line.startswith("ready"):
            tap(False, "concurrent producer: helper did not start", line)
            return
        r = sb.BcastReader(name)
        start = r.cursor
        total = 0
        missed_sum = 0
        rows_ok = True
        order_ok = True
        deadline = time.monotonic() + 10
        rounds = 0
        while rounds < 400 and time.monotonic() < deadline:
            prev = r.cursor
            seq, rows, missed = r.read_new()
            rows_ok = rows_ok and check_f64_rows(seq, rows, 8)
            if len(seq):
                order_ok = order_ok and bool(np.all(np.diff(seq.astype(np.int64)) > 0)) \
                    and int(seq[0]) >= prev
                order_ok = order_ok and \
                    int(seq[-1]) + 1 - prev == len(seq) + missed
            total += len(seq)
            missed_sum += missed
            rounds += 1
        end = r.cursor
        r.close()
        tap(rows_ok, "no torn row returned while the producer overwrites "
            "(%d rows, %d missed, %d reads)" % (total, missed_sum, rounds))
        tap(order_ok and total > 0 and total + missed_sum == end - start,
            "rows strictly increasing; rows + missed == entries passed",
            "total %d missed %d span %d" % (total, missed_sum, end - start))
    finally:
        prod.stdin.close()
        try:
            prod.wait(timeout=WATCHDOG_S)
        except subprocess.TimeoutExpired:
            prod.kill()
            prod.wait()
        unlink(name)


def test_mixed():
    name = ring("mix")
    try:
        helper(name, "--mixed", "--capacity", 16, "--rows", 20)
        r = sb.BcastReader(name)
        seq, rows = r.snapshot()
        v = value(seq, 0)
        ok = list(seq) == list(range(4, 20)) and \
            r.dtype.names == ("t", "id", "n", "a", "b", "c") and \
            [c[1] for c in r.columns] == ["f64", "u64", "i64", "f32", "i32", "u32"]
        ok = ok and np.array_equal(rows["t"], v) and \
            np.array_equal(rows["id"], (seq * 16 + 1).astype(np.uint64)) and \
            np.array_equal(rows["n"], -(seq * 16 + 2).astype(np.int64)) and \
            np.array_equal(rows["a"], value(seq, 3).astype(np.float32)) and \
            np.array_equal(rows["b"], -(seq % 100000).astype(np.int32)) and \
            np.array_equal(rows["c"], (seq * 16 + 5).astype(np.uint32))
        tap(ok, "mixed schema f64/u64/i64/f32/i32/u32 round trip", r.dtype)
        try:
            r.as_f64(rows)
            tap(False, "as_f64 refuses a mixed table")
        except ValueError:
            tap(True, "as_f64 refuses a mixed table")
        r.close()
    finally:
        unlink(name)


def expect_error(fn, code):
    try:
        fn()
    except sb.ShmringError as e:
        return e.errno == code
    return False


def test_hostile():
    import errno
    tap(expect_error(lambda: sb.BcastReader(ring("absent")), errno.ENOENT) and
        expect_error(lambda: sb.BcastReader("../etc"), errno.EINVAL),
        "missing ring and bad name are clear errors")
    if BACKEND != "shm":
        tap(True, "uninitialised ring # SKIP needs the shm backend")
        tap(True, "hostile contents # SKIP needs the shm backend")
        return
    # a ring file whose creator never finished: bounded wait, ETIMEDOUT
    name = ring("uninit")
    with open(shm_path(name), "wb") as f:
        f.truncate(8192)
    try:
        t0 = time.monotonic()
        good = expect_error(lambda: sb.BcastReader(name, timeout=0.2),
                            errno.ETIMEDOUT)
        tap(good and time.monotonic() - t0 < 5,
            "ring never initialised: ETIMEDOUT after the timeout, no hang")
    finally:
        os.unlink(shm_path(name))
    name = ring("bad")
    try:
        helper(name, "--capacity", 8, "--rows", 5, "--cols", 2)
        path = shm_path(name)
        meta = 4096
        data_off = 2 << 20   # 2 MiB DATA is 2 MiB aligned in the file

        def poke(off, raw):
            with open(path, "r+b") as f:
                f.seek(off)
                old = f.read(len(raw))
                f.seek(off)
                f.write(raw)
            return old

        cases = [
            ("column type", meta + sb.SCHEMA_OFFSET + 32 + 40 + 32,
             (99).to_bytes(4, "little"), "open"),
            ("column name unterminated", meta + sb.SCHEMA_OFFSET + 32, b"x" * 32, "open"),
            ("capacity beyond DATA", meta + 24 + 8, (1 << 40).to_bytes(8, "little"), "open"),
            ("stride", meta + 24 + 16, (8).to_bytes(8, "little"), "open"),
            ("head absurd", meta + sb.PROD_OFFSET, (1 << 63).to_bytes(8, "little"), "open"),
            ("slot seq in the wrong slot", data_off + 0,
             (2 * 3 + 2).to_bytes(8, "little"), "snap"),
            ("slot seq ahead of head", data_off + 0,
             (2 * 16 + 2).to_bytes(8, "little"), "snap"),
        ]
        import errno as en
        allok = True
        for what, off, raw, when in cases:
            old = poke(off, raw)
            try:
                if when == "open":
                    good = expect_error(lambda: sb.BcastReader(name), en.EPROTO)
                else:
                    r = sb.BcastReader(name)
                    good = expect_error(r.snapshot, en.EPROTO)
                    r.close()
            finally:
                poke(off, old)
            if not good:
                allok = False
                print("# hostile case not rejected: " + what)
        r = sb.BcastReader(name)
        seq, rows = r.snapshot()
        r.close()
        tap(allok and list(seq) == [0, 1, 2, 3, 4] and check_f64_rows(seq, rows, 2),
            "hostile header, schema, head and slot sequences rejected (EPROTO)")
    finally:
        unlink(name)


def main():
    try:
        if not os.environ.get("SHMRING_BCAST_HELPER"):
            build_helper()
    except (subprocess.CalledProcessError, OSError) as e:
        print("1..1\nnot ok 1 build bcast_producer: %s" % e)
        return 1
    for t in (test_abi, test_values_order, test_lapped, test_concurrent,
              test_mixed, test_hostile):
        try:
            t()
        except Exception as e:  # a crash in one test is a failure, not an abort
            tap(False, "%s raised %s: %s" % (t.__name__, type(e).__name__, e))
    if len(results) != 11:
        tap(False, "expected 11 results, got %d" % len(results))
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
