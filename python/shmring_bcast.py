# SPDX-License-Identifier: GPL-2.0
"""Read a shmring broadcast ring (SHMRING_KIND_BCAST) from Python with NumPy.

The ring is mapped read-only, either from the /dev/shm fallback file
(/dev/shm/shmring.<name>) or from /dev/shmring (ioctl ATTACH with
SHMRING_ATTACH_RDONLY, then mmap of META and DATA at the offsets QUERY
reports). Nothing is ever written to the ring.

    from shmring_bcast import BcastReader
    with BcastReader("ticks") as r:
        seq, rows = r.snapshot()      # valid rows, oldest to newest
        print(r.columns, rows["px"][-10:])
        table = r.as_f64(rows)        # 2-D float64 view for all-f64 schemas
        seq, rows, missed = r.read_new()   # only rows not seen before

Validation: every slot starts with a sequence word (2n+2 when entry n is
complete, 2n+1 while the producer writes it). A snapshot copies all
sequence words, then all slots, then the sequence words again, and keeps
only the slots whose three copies agree, are complete and sit in the slot
their entry number belongs to. Rows torn by a concurrent overwrite are
dropped. The check relies on loads not being reordered with loads, which
holds on x86-64 (the only architecture Debian's shmring packages target);
on weakly ordered CPUs use the C library's shmring_bcast_read().

Layout constants mirror userlib/include/shmring/{hdr,bcast}.h and the ioctl
ABI include/uapi/linux/shmring.h; the test compares them with a C build.
"""

import errno
import fcntl
import mmap
import os
import struct
import time

import numpy as np

__all__ = ["BcastReader", "ShmringError", "TYPES"]

# include/uapi/linux/shmring.h
SHMRING_DEV_PATH = "/dev/shmring"
SHMRING_ABI_VERSION = 1
SHMRING_NAME_MAX = 64
SHMRING_ATTACH_RDONLY = 1
SHMRING_CTRL_MAGIC = 0x53484D43
_IOC_RW = 3


def _iowr(nr, size):
    return (_IOC_RW << 30) | (size << 16) | (0xB8 << 8) | nr


_QUERY_FMT = "<IIIIQQQQQQIIII4Q"        # struct shmring_query, 112 bytes
_ATTACH_FMT = "<II64s4Q"                # struct shmring_attach, 104 bytes
_INFO_FMT = "<IIQQIIIIIIIIIIiIQQ64s4Q"  # struct shmring_info, 184 bytes
SHMRING_IOC_QUERY = _iowr(1, struct.calcsize(_QUERY_FMT))
SHMRING_IOC_ATTACH = _iowr(3, struct.calcsize(_ATTACH_FMT))
SHMRING_IOC_INFO = _iowr(5, struct.calcsize(_INFO_FMT))

# userlib/include/shmring/hdr.h
SHMRING_HDR_MAGIC = 0x53524E47
SHMRING_LAYOUT_VERSION = 1
SHMRING_KIND_BCAST = 4
_HDR_FMT = "<IHHIIQ4QQiI"               # struct shmring_hdr, 72 bytes

# userlib/include/shmring/bcast.h
PROD_OFFSET = 128
SCHEMA_OFFSET = 256
COLS_MAX = 32
COLNAME_MAX = 32
HDR_BYTES = SCHEMA_OFFSET + 32 + COLS_MAX * 40
ENTRY_MAX = 16 << 20
SEQ_MAX = 1 << 62
HF_ALIGN64 = 1
# type code -> (short name, NumPy dtype)
TYPES = {1: ("f64", "<f8"), 2: ("i64", "<i8"), 3: ("u64", "<u8"),
         4: ("f32", "<f4"), 5: ("i32", "<i4"), 6: ("u32", "<u4")}

# backend_shm.c: [CTRL 4 KiB][META][pad to 2 MiB if DATA is 2 MiB sized][DATA]
_SHM_CTRL_BYTES = 4096
_2M = 2 << 20


class ShmringError(OSError):
    """A ring that cannot be opened or whose shared contents are corrupt."""


def _ioc_buf(fmt):
    """A zeroed ioctl argument whose leading __u32 size is filled in."""
    buf = bytearray(struct.calcsize(fmt))
    struct.pack_into("<I", buf, 0, len(buf))
    return buf


def _proto(msg):
    return ShmringError(errno.EPROTO, "corrupt broadcast ring: " + msg)


def _stride_for(entry_size, align64):
    s = 8 + ((entry_size + 7) & ~7)
    return (s + 63) & ~63 if align64 else s


def _name_ok(name):
    if not name or len(name) >= SHMRING_NAME_MAX or name in (".", ".."):
        return False
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


class BcastReader:
    """A read-only consumer of one broadcast ring.

    backend: "auto" (device if /dev/shmring exists, else shm; the
    SHMRING_BACKEND environment variable overrides), "device" or "shm".
    """

    def __init__(self, name, backend="auto", shm_dir="/dev/shm", timeout=2.0):
        if not _name_ok(name):
            raise ShmringError(errno.EINVAL, "bad ring name %r" % (name,))
        self.name = name
        self._maps = []
        self._fd = -1
        if backend == "auto":
            backend = os.environ.get("SHMRING_BACKEND", "auto") or "auto"
        if backend == "auto":
            backend = "device" if os.path.exists(SHMRING_DEV_PATH) else "shm"
        if backend not in ("device", "dev", "shm"):
            raise ShmringError(errno.EINVAL, "unknown backend %r" % backend)
        # A creator may still be initialising: retry EAGAIN, bounded.
        deadline = time.monotonic() + timeout
        while True:
            try:
                if backend == "shm":
                    self._open_shm(os.path.join(shm_dir, "shmring." + name))
                else:
                    self._open_device()
                self.backend = backend
                self._parse()
                break
            except ShmringError as e:
                self.close()
                if e.errno != errno.EAGAIN:
                    raise
                if time.monotonic() >= deadline:
                    raise ShmringError(errno.ETIMEDOUT, "ring %r never "
                                       "finished initialising" % name) from None
                time.sleep(0.005)
            except BaseException:
                self.close()
                raise
        self.cursor = self.oldest()
        self.missed_total = 0

    # ---- mapping -------------------------------------------------------
    def _open_shm(self, path):
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ShmringError(errno.ENOENT, "no ring %r in %s" %
                               (self.name, os.path.dirname(path))) from None
        size = os.fstat(self._fd).st_size
        if size < _SHM_CTRL_BYTES:
            raise ShmringError(errno.EAGAIN, "ring file not initialised")
        ctrl = mmap.mmap(self._fd, _SHM_CTRL_BYTES, mmap.MAP_SHARED,
                         mmap.PROT_READ)
        self._maps.append(ctrl)
        magic, abi, _rid, data_bytes, meta_bytes = struct.unpack_from(
            "<IIQQI", ctrl, 0)
        if magic == 0:
            raise ShmringError(errno.EAGAIN, "ring file not initialised")
        if magic != SHMRING_CTRL_MAGIC or abi != SHMRING_ABI_VERSION:
            raise _proto("CTRL page magic/version")
        if meta_bytes == 0 or meta_bytes % 4096 or meta_bytes > (2 << 20):
            raise _proto("meta_bytes %d" % meta_bytes)
        if data_bytes == 0 or data_bytes % 4096:
            raise _proto("data_bytes %d" % data_bytes)
        data_off = _SHM_CTRL_BYTES + meta_bytes
        if data_bytes % _2M == 0:
            data_off = (data_off + _2M - 1) // _2M * _2M
        if data_off + data_bytes > size:
            raise _proto("file shorter than its geometry")
        self._meta = mmap.mmap(self._fd, meta_bytes, mmap.MAP_SHARED,
                               mmap.PROT_READ, offset=_SHM_CTRL_BYTES)
        self._maps.append(self._meta)
        self._data = mmap.mmap(self._fd, data_bytes, mmap.MAP_SHARED,
                               mmap.PROT_READ, offset=data_off)
        self._maps.append(self._data)
        self.data_bytes, self.meta_bytes = data_bytes, meta_bytes

    def _open_device(self):
        try:
            self._fd = os.open(SHMRING_DEV_PATH, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ShmringError(errno.ENODEV, "no " + SHMRING_DEV_PATH) from None
        q = _ioc_buf(_QUERY_FMT)
        fcntl.ioctl(self._fd, SHMRING_IOC_QUERY, q, True)
        fields = struct.unpack(_QUERY_FMT, q)
        abi, off_data, off_meta = fields[2], fields[4], fields[5]
        if abi != SHMRING_ABI_VERSION:
            raise ShmringError(errno.EPROTO, "module ABI %d" % abi)
        a = _ioc_buf(_ATTACH_FMT)
        struct.pack_into("<I64s", a, 4, SHMRING_ATTACH_RDONLY, self.name.encode())
        try:
            fcntl.ioctl(self._fd, SHMRING_IOC_ATTACH, a, True)
        except OSError as e:
            raise ShmringError(e.errno, "attach %r: %s" %
                               (self.name, os.strerror(e.errno))) from None
        i = _ioc_buf(_INFO_FMT)
        fcntl.ioctl(self._fd, SHMRING_IOC_INFO, i, True)
        info = struct.unpack(_INFO_FMT, i)
        data_bytes, meta_bytes = info[3], info[4]
        self._meta = mmap.mmap(self._fd, meta_bytes, mmap.MAP_SHARED,
                               mmap.PROT_READ, offset=off_meta)
        self._maps.append(self._meta)
        self._data = mmap.mmap(self._fd, data_bytes, mmap.MAP_SHARED,
                               mmap.PROT_READ, offset=off_data)
        self._maps.append(self._data)
        self.data_bytes, self.meta_bytes = data_bytes, meta_bytes

    # ---- header and schema ----------------------------------------------
    def _parse(self):
        if self.meta_bytes < HDR_BYTES:
            raise _proto("META too small")
        (magic, ver, kind, hdr_bytes, flags, data_bytes, entry, cap, stride,
         ncols, _ctime, _pid, _res) = struct.unpack_from(_HDR_FMT, self._meta, 0)
        if magic == 0:
            raise ShmringError(errno.EAGAIN, "header not published yet")
        if magic != SHMRING_HDR_MAGIC or ver != SHMRING_LAYOUT_VERSION:
            raise _proto("header magic/version")
        if kind != SHMRING_KIND_BCAST:
            raise ShmringError(errno.EMEDIUMTYPE, "not a broadcast ring")
        if data_bytes != self.data_bytes or hdr_bytes < HDR_BYTES or \
                flags & ~HF_ALIGN64:
            raise _proto("header geometry")
        if not 0 < entry <= ENTRY_MAX or cap == 0 or ncols > COLS_MAX:
            raise _proto("entry size, capacity or column count")
        if stride != _stride_for(entry, flags & HF_ALIGN64):
            raise _proto("stride")
        if cap > self.data_bytes // stride:
            raise _proto("capacity beyond DATA")
        (sc_ncols,) = struct.unpack_from("<I", self._meta, SCHEMA_OFFSET)
        if sc_ncols != ncols:
            raise _proto("schema column count")
        cols = []
        spans = []
        for k in range(ncols):
            raw, typ, off = struct.unpack_from(
                "<32sII", self._meta, SCHEMA_OFFSET + 32 + 40 * k)
            if b"\0" not in raw:
                raise _proto("column %d name not terminated" % k)
            cname = raw.split(b"\0", 1)[0].decode("ascii", "replace")
            if not cname or not all(c.isascii() and (c.isalnum() or c == "_")
                                    for c in cname):
                raise _proto("column %d name" % k)
            if typ not in TYPES:
                raise _proto("column %r type %d" % (cname, typ))
            sz = np.dtype(TYPES[typ][1]).itemsize
            if off % sz or off + sz > entry:
                raise _proto("column %r offset %d" % (cname, off))
            if any(cname == c[0] for c in cols):
                raise _proto("duplicate column %r" % cname)
            if any(off < o + s and o < off + sz for o, s in spans):
                raise _proto("overlapping column %r" % cname)
            cols.append((cname, TYPES[typ][0], off))
            spans.append((off, sz))
        self.entry_size, self.capacity, self.stride = entry, cap, stride
        self.columns = cols
        if cols:
            np_of = {v[0]: v[1] for v in TYPES.values()}
            self.dtype = np.dtype({
                "names": [c[0] for c in cols],
                "formats": [np_of[c[1]] for c in cols],
                "offsets": [c[2] for c in cols],
                "itemsize": entry})
        else:
            self.dtype = np.dtype((np.void, entry))
        # One record per slot: the sequence word, then the entry.
        self._slot_dtype = np.dtype({"names": ["seq", "row"],
                                     "formats": ["<u8", self.dtype],
                                     "offsets": [0, 8], "itemsize": stride})
        self._slots = np.ndarray((cap,), dtype=self._slot_dtype,
                                 buffer=self._data, offset=0)
        self._head = np.ndarray((1,), dtype="<u8", buffer=self._meta,
                                offset=PROD_OFFSET)

    # ---- reading -------------------------------------------------------
    def head(self):
        """Entries published so far."""
        h = int(self._head[0])
        if h > SEQ_MAX:
            raise _proto("head %d" % h)
        return h

    def oldest(self):
        """Number of the oldest entry the ring may still hold."""
        h = self.head()
        return h - self.capacity if h > self.capacity else 0

    def snapshot(self):
        """(seq, rows): the valid entries, oldest to newest.

        seq is a uint64 array of entry numbers (strictly increasing), rows a
        structured array (dtype self.dtype) holding private copies. Entries
        being overwritten while they were copied are left out.
        """
        h0 = self.head()
        seq1 = self._slots["seq"].copy()
        copy = self._slots.copy()
        seq2 = self._slots["seq"].copy()
        h1 = self.head()
        if h1 < h0:
            raise _proto("head went backwards")
        ok = (seq1 == seq2) & (seq1 == copy["seq"]) & (seq1 != 0) & \
             (seq1 % 2 == 0) & (seq1 <= 2 * SEQ_MAX)
        ent = np.where(ok, seq1 // 2 - 1, 0)
        slot = np.arange(self.capacity, dtype=np.uint64)
        cap = np.uint64(self.capacity)
        # head is stored just after a slot completes: ent == h1 is legal.
        bad = ok & ((ent % cap != slot) | (ent > np.uint64(h1)))
        if bad.any():
            raise _proto("slot sequence does not match its slot or head")
        order = np.argsort(ent[ok], kind="stable")
        return ent[ok][order], copy["row"][ok][order]

    def read_new(self):
        """(seq, rows, missed): valid entries from the cursor on.

        missed counts entries between the cursor and the newest returned
        entry that were not returned (overwritten before this read, or torn
        during it). The cursor moves past the newest returned entry.
        """
        seq, rows = self.snapshot()
        keep = seq >= np.uint64(self.cursor)
        seq, rows = seq[keep], rows[keep]
        missed = 0
        if len(seq):
            last = int(seq[-1])
            missed = last + 1 - self.cursor - len(seq)
            self.cursor = last + 1
            self.missed_total += missed
        return seq, rows, missed

    def as_f64(self, rows):
        """2-D float64 view (rows x columns) when every column is f64 and
        the columns are packed from offset 0."""
        if not self.columns or any(c[1] != "f64" or c[2] != 8 * k
                                   for k, c in enumerate(self.columns)):
            raise ValueError("not an all-f64 packed table")
        n = len(self.columns)
        return rows.view(np.uint8).reshape(len(rows), self.entry_size)[
            :, :8 * n].view("<f8") if len(rows) else np.empty((0, n))

    # ---- lifetime ------------------------------------------------------
    def close(self):
        self._slots = self._head = None
        for m in reversed(self._maps):
            try:
                m.close()
            except BufferError:
                pass  # a caller still holds a view; the GC unmaps later
        self._maps = []
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
