#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run python/test_bcast_reader.py inside the qemu VM against /dev/shmring:
# the host's python3 + NumPy (Debian's python3-numpy) and their shared
# libraries are copied into the payload, the helper producer is linked
# statically, and scripts/vm/boot.sh boots the kernel. Prints the test's TAP.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: python/run-vm.sh [generic|rt]

Boot Debian's 6.1 kernel (default generic) in qemu with shmring.ko and run
the Python broadcast reader test on the /dev/shmring backend.
Needs: /usr/bin/python3 with numpy and the kernel headers of the flavour
(the module is built by scripts/vm/build-module.sh); builds the static
library (make -C userlib VARIANT=static). Payload: build/out/python-vm.
USAGE
}

case ${1:-generic} in
-h|--help) usage; exit 0 ;;
generic|rt) flavour=${1:-generic} ;;
*) echo "run-vm: unknown flavour '$1' (see --help)" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
case $flavour in
generic) kdir=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v -- '-rt-' | sort -V | tail -1) ;;
rt)      kdir=$(ls -d /usr/src/linux-headers-*-rt-amd64 2>/dev/null | sort -V | tail -1) ;;
esac
[ -n "$kdir" ] || { echo "run-vm: no kernel headers for $flavour (make deps)" >&2; exit 2; }
mkdir -p build/out/python-vm-mod
bash scripts/vm/build-module.sh "$kdir" build/out/python-vm-mod ||
	{ echo "run-vm: module build failed" >&2; exit 1; }
ko=build/out/python-vm-mod/shmring.ko
/usr/bin/python3 -c 'import numpy' 2>/dev/null ||
	{ echo "run-vm: /usr/bin/python3 has no numpy (apt-get install python3-numpy)" >&2; exit 2; }
make -s -C userlib VARIANT=static >/dev/null

p=build/out/python-vm
rm -rf "$p"
mkdir -p "$p/py/bin" "$p/py/lib/python3.11" "$p/py/dist" "$p/python"
cp "$ko" "$p/"
cc -static -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I userlib/include \
	-I include/uapi -o "$p/bcast_producer" python/bcast_producer.c \
	build/out/static/lib/libshmring.a -lpthread
cp python/shmring_bcast.py python/test_bcast_reader.py "$p/python/"

pybin=$(readlink -f /usr/bin/python3)
pyver=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cp -L "$pybin" "$p/py/bin/python3"
stdlib=/usr/lib/python$pyver
[ "$pyver" = 3.11 ] || mv "$p/py/lib/python3.11" "$p/py/lib/python$pyver"
tar -C "$stdlib" -cf - --exclude=test --exclude=idlelib --exclude=tkinter \
	--exclude=lib2to3 --exclude=ensurepip --exclude=turtledemo \
	--exclude=site-packages --exclude=dist-packages . |
	tar -C "$p/py/lib/python$pyver" -xf -
npdir=$(/usr/bin/python3 -c 'import numpy, os; print(os.path.dirname(os.path.dirname(numpy.__file__)))')
tar -C "$npdir" -cf - --exclude=tests numpy | tar -C "$p/py/dist" -xf -
# the interpreter, numpy's and the stdlib's extension libraries
{ find "$p/py" -name '*.so*' -print0 | xargs -0 ldd 2>/dev/null || true; } |
	awk '/=>/ && $3 ~ /^\// {print $3}' | sort -u > "$p/libs.txt"
ldd "$pybin" | awk '/=>/ && $3 ~ /^\// {print $3}' >> "$p/libs.txt"
mkdir -p "$p/py/lib"
sort -u "$p/libs.txt" | while read -r l; do cp -L "$l" "$p/py/lib/"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$p/py/lib/"

cat > "$p/py/run-python" <<'EOF'
#!/bin/sh
d=$(dirname "$0")
PYTHONHOME=$d PYTHONPATH=$d/dist PYTHONDONTWRITEBYTECODE=1 \
	exec "$d/lib/ld-linux-x86-64.so.2" --library-path "$d/lib" "$d/bin/python3" "$@"
EOF
cat > "$p/run.sh" <<'EOF'
#!/bin/sh
insmod /t/shmring.ko || exit 3
cd /tmp
SHMRING_BACKEND=device SHMRING_BCAST_HELPER=/t/bcast_producer \
	sh /t/py/run-python /t/python/test_bcast_reader.py
rc=$?
rmmod shmring || rc=4
if dmesg | grep -E 'WARNING:|BUG:|Oops|KASAN:'; then rc=5; fi
exit $rc
EOF
bash scripts/vm/boot.sh --timeout 400 "$flavour" "$p" | grep -vE '^\[ *[0-9]+\.[0-9]+\]'
