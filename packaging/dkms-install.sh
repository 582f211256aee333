#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Copy the shmring module sources and dkms.conf to DESTDIR/usr/src/shmring-<version>/
# so that "dkms add/build/install -m shmring -v <version>" can use them.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: packaging/dkms-install.sh [--dry-run] [--print-version] [--version V] [DESTDIR]

Install the shmring kernel module sources for DKMS into
DESTDIR/usr/src/shmring-<version>/ (DESTDIR defaults to empty, i.e. /).
The version comes from the VERSION line of userlib/Makefile.

Files installed: dkms.conf (with the version filled in), Kbuild,
kmod/*.c, kmod/*.h, include/uapi/linux/shmring.h, LICENSES/GPL-2.0,
LICENSES/Linux-syscall-note.

  --dry-run        print what would be done, change nothing
  --print-version  print the version and exit
  --version V      install as version V instead (tests use a unique one)
  -h, --help       this text

Then, as root:  dkms add -m shmring -v <version>
                dkms build -m shmring -v <version> [-k <kernel>]
                dkms install -m shmring -v <version>
USAGE
}

dry=0 destdir=
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) dry=1; shift ;;
	--print-version) printver=1; shift ;;
	--version) [ $# -ge 2 ] || { echo "dkms-install: --version needs a value" >&2; exit 2; }
		forcever=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	-*) echo "dkms-install: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) [ -z "$destdir" ] || { echo "dkms-install: only one DESTDIR, got '$destdir' and '$1'" >&2; exit 2; }
	   destdir=$1; shift ;;
	esac
done
if [ $# -gt 0 ]; then
	if [ -n "$destdir" ] || [ $# -ne 1 ]; then
		echo "dkms-install: too many arguments" >&2
		exit 2
	fi
	destdir=$1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(sed -n 's/^VERSION[[:space:]]*:\{0,1\}=[[:space:]]*\([0-9][0-9A-Za-z.+~-]*\)[[:space:]]*$/\1/p' \
	"$top/userlib/Makefile" | head -n 1)
if [ -n "${forcever:-}" ]; then
	case $forcever in
	[0-9]*) ;;
	*) echo "dkms-install: bad version '$forcever'" >&2; exit 2 ;;
	esac
	case $forcever in
	*[!0-9A-Za-z.+~-]*) echo "dkms-install: bad version '$forcever'" >&2; exit 2 ;;
	esac
	ver=$forcever
fi
if [ -z "$ver" ]; then
	echo "dkms-install: no VERSION line in $top/userlib/Makefile" >&2
	exit 1
fi
if [ "${printver:-0}" = 1 ]; then
	echo "$ver"
	exit 0
fi

dest="${destdir%/}/usr/src/shmring-$ver"
files=(Kbuild include/uapi/linux/shmring.h LICENSES/GPL-2.0 LICENSES/Linux-syscall-note)
for f in "$top"/kmod/*.c "$top"/kmod/*.h; do
	files+=("${f#"$top"/}")
done
for f in dkms.conf "${files[@]}"; do
	[ -f "$top/$f" ] || { echo "dkms-install: missing source file $top/$f" >&2; exit 1; }
done

run() {
	if [ "$dry" = 1 ]; then
		printf '%s\n' "$*"
	else
		"$@"
	fi
}

if [ -e "$dest" ] && [ "$dry" = 0 ]; then
	# A reinstall of the same version replaces the sources.
	rm -rf -- "$dest"
fi
run install -d -m 0755 "$dest"
for f in "${files[@]}"; do
	run install -D -m 0644 "$top/$f" "$dest/$f"
done
if [ "$dry" = 1 ]; then
	echo "sed 's/@VERSION@/$ver/' $top/dkms.conf > $dest/dkms.conf"
else
	sed "s/@VERSION@/$ver/" "$top/dkms.conf" > "$dest/dkms.conf"
	chmod 0644 "$dest/dkms.conf"
	echo "dkms-install: sources in $dest (dkms add -m shmring -v $ver)"
fi
