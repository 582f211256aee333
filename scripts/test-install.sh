#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install test (issue 5 item 6): stage "make install" into a temporary
# DESTDIR and check that a small program builds against it with pkg-config
# (shared and static) and runs, that the man pages, the udev rule and the
# DKMS sources are where docs/install.md says, and that every module
# parameter has a modinfo description. Prints TAP; build output goes to
# build/logs/install/ and only "# " lines of it reach stdout.
set -uo pipefail

usage() {
	cat <<'USAGE'
Usage: scripts/test-install.sh [--keep] [--no-module] [-h]

Stage "make install DESTDIR=<tmp> PREFIX=/usr/local" and test the tree;
lint the man pages (man/check-pages.sh)
(TAP on stdout, exit 1 if a test failed, 2 on bad usage).

  --keep       keep the temporary DESTDIR and print its path
  --no-module  skip "make module" and the modinfo test (reported as SKIP)
  -h, --help   this text

Environment: SHMRING_INSTALL_TIMEOUT seconds for each make (default 240).
USAGE
}

keep=0 module=1
while [ $# -gt 0 ]; do
	case $1 in
	--keep) keep=1; shift ;;
	--no-module) module=0; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "test-install: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
tmo=${SHMRING_INSTALL_TIMEOUT:-240}
logdir=build/logs/install
mkdir -p "$logdir"
tmp=$(mktemp -d /tmp/shmring-install.XXXXXX) || exit 2
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	if [ "$keep" = 1 ]; then
		echo "# kept $tmp"
	else
		rm -rf -- "$tmp"
	fi
}
trap cleanup EXIT

prefix=/usr/local
root=$tmp$prefix
n=0 failed=0
ok()     { n=$((n + 1)); echo "ok $n $1"; }
notok()  { n=$((n + 1)); echo "not ok $n $1"; failed=1; }
skip()   { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
check()  { if [ "$1" = 0 ]; then ok "$2"; else notok "$2"; fi; }
# Show the tail of a log as TAP comments.
show()   { tail -n "${2:-15}" "$1" | sed 's/^/# /'; }

echo "TAP version 13"
echo "1..14"

# 1: the staged install. The top-level Makefile may not install the man
# pages and the packaging pieces yet; then call their makes directly.
log=$logdir/make-install.log
{
	timeout -k 5 "$tmo" make -s install DESTDIR="$tmp" PREFIX="$prefix" &&
	if ! grep -qiE 'make.* -C man install( |$)' Makefile; then
		timeout -k 5 "$tmo" make -s -C man install DESTDIR="$tmp" PREFIX="$prefix"
	fi &&
	if ! grep -qiE 'make.* -C packaging install( |$)' Makefile; then
		timeout -k 5 "$tmo" make -s -C packaging install DESTDIR="$tmp" PREFIX="$prefix"
	fi
} >"$log" 2>&1
rc=$?
[ "$rc" = 0 ] || show "$log"
check "$rc" "install.make_install DESTDIR PREFIX=$prefix"

# 2: the library's files.
miss=
for f in lib/libshmring.so.1 lib/libshmring.so lib/libshmring.a lib/pkgconfig/shmring.pc \
	 include/shmring/region.h include/shmring/stream.h include/shmring/msg.h \
	 include/shmring/mpsc.h include/shmring/bcast.h include/shmring/seg.h \
	 include/shmring/hdr.h include/linux/shmring.h; do
	[ -e "$root/$f" ] || miss="$miss $f"
done
for f in "$top"/userlib/include/shmring/*.h; do
	cmp -s "$f" "$root/include/shmring/${f##*/}" || miss="$miss include/shmring/${f##*/}(differs)"
done
[ -z "$miss" ] || echo "# missing under $root:$miss"
check "$([ -z "$miss" ]; echo $?)" "install.library_files"

# 3: the tools.
miss=
tools=(shmring-bench)
for f in "$top"/tools/*.c; do
	tools+=("$(basename "$f" .c)")
done
for t in "${tools[@]}"; do
	[ -x "$root/bin/$t" ] || { miss="$miss $t"; continue; }
	"$root/bin/$t" --help >/dev/null 2>&1 || miss="$miss $t(--help)"
done
[ -z "$miss" ] || echo "# tools missing or failing --help:$miss"
check "$([ -z "$miss" ]; echo $?)" "install.tools"

# The program every build below uses: a stream ring on the /dev/shm
# fallback, a few bytes written, read back and compared.
cat >"$tmp/hello.c" <<'PROG'
/* SPDX-License-Identifier: GPL-2.0 */
#include <shmring/stream.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static const char msg[] = "hello through shmring";
	struct shmring_stream_opts o = { .size = sizeof(o), .backend = SHMRING_BACKEND_SHM,
					 .flags = SHMRING_F_EXCL | SHMRING_F_NOHUGE,
					 .numa_node = -1, .wait_timeout_ns = 5000000000ULL };
	struct shmring_stream_opts ao = { .size = sizeof(ao), .backend = SHMRING_BACKEND_SHM,
					  .wait_timeout_ns = 5000000000ULL };
	struct shmring_stream *w = NULL, *r = NULL;
	char name[64], buf[64];
	ssize_t got = 0, n;
	int err;

	snprintf(name, sizeof(name), "shmring-install-%d", (int)getpid());
	err = shmring_stream_create(name, 4096, SHMRING_STREAM_WRITER, &o, &w);
	if (err) {
		fprintf(stderr, "create %s: %s\n", name, strerror(-err));
		return 1;
	}
	err = shmring_stream_attach(name, SHMRING_STREAM_READER, &ao, &r);
	if (err) {
		fprintf(stderr, "attach %s: %s\n", name, strerror(-err));
		shmring_stream_close(w);
		shmring_stream_unlink(name, SHMRING_BACKEND_SHM);
		return 1;
	}
	if (shmring_stream_write(w, msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
	    shmring_stream_done(w) != 0)
		err = 1;
	while (!err && (n = shmring_stream_read(r, buf + got, sizeof(buf) - (size_t)got)) > 0)
		got += n;
	if (!err && (got != (ssize_t)sizeof(msg) || memcmp(buf, msg, sizeof(msg)) != 0))
		err = 1;
	shmring_stream_close(r);
	shmring_stream_close(w);
	if (shmring_stream_unlink(name, SHMRING_BACKEND_SHM) != 0)
		err = 1;
	if (err) {
		fprintf(stderr, "stream round trip failed (read %zd bytes)\n", got);
		return 1;
	}
	printf("%s\n", buf);
	return 0;
}
PROG

pc() {
	# The staged shmring.pc, then the system's (liburing.pc, a dependency).
	PKG_CONFIG_PATH="$root/lib/pkgconfig" \
	PKG_CONFIG_LIBDIR="$root/lib/pkgconfig:$(pkg-config --variable pc_path pkg-config)" \
	PKG_CONFIG_SYSROOT_DIR="$tmp" pkg-config "$@"
}

# 4: pkg-config answers from the staged tree.
flags=$(pc --cflags --libs shmring 2>&1)
rc=$?
echo "# pkg-config --cflags --libs shmring: $flags"
if [ "$rc" = 0 ] && [[ $flags == *"-I$root/include"* ]] && [[ $flags == *"-L$root/lib"* ]] &&
   [[ $flags == *-lshmring* ]]; then
	ok "install.pkg_config"
else
	notok "install.pkg_config"
fi

# 5, 6: shared build; it runs against the staged library only.
log=$logdir/build-shared.log
# shellcheck disable=SC2046  # word splitting of pkg-config output is wanted
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$tmp/hello" "$tmp/hello.c" \
	$(pc --cflags --libs shmring) >"$log" 2>&1
rc=$?
[ "$rc" = 0 ] || show "$log"
check "$rc" "install.build_shared"
if [ "$rc" = 0 ]; then
	out=$(LD_LIBRARY_PATH="$root/lib" SHMRING_BACKEND=shm timeout -k 2 20 "$tmp/hello" 2>&1)
	rc=$?
	lib=$(LD_LIBRARY_PATH="$root/lib" ldd "$tmp/hello" 2>/dev/null | awk '/libshmring/ {print $3}')
	echo "# shared: libshmring from ${lib:-?}: $out"
	if [ "$rc" = 0 ] && [ "$out" = "hello through shmring" ] && [ "$lib" = "$root/lib/libshmring.so.1" ]; then
		ok "install.run_shared"
	else
		notok "install.run_shared"
	fi
else
	notok "install.run_shared (not built)"
fi

# 7, 8: static build with the .pc's --static flags; nothing of libshmring
# may be needed at run time.
log=$logdir/build-static.log
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -static -o "$tmp/hello-static" "$tmp/hello.c" \
	$(pc --static --cflags --libs shmring) >"$log" 2>&1
rc=$?
[ "$rc" = 0 ] || show "$log"
check "$rc" "install.build_static"
if [ "$rc" = 0 ]; then
	out=$(env -u LD_LIBRARY_PATH SHMRING_BACKEND=shm timeout -k 2 20 "$tmp/hello-static" 2>&1)
	rc=$?
	dyn=$(readelf -d "$tmp/hello-static" 2>/dev/null | grep -c NEEDED)
	echo "# static: $dyn NEEDED entries: $out"
	if [ "$rc" = 0 ] && [ "$out" = "hello through shmring" ] && [ "$dyn" = 0 ]; then
		ok "install.run_static"
	else
		notok "install.run_static"
	fi
else
	notok "install.run_static (not built)"
fi

# 9: every page of man/ installed and rendering without warnings.
mandir=$root/share/man
bad=
npages=0
for p in man/*.[1-8]; do
	[ -e "$p" ] || continue
	s=${p##*.} b=${p##*/}
	npages=$((npages + 1))
	f=$mandir/man$s/$b
	[ -f "$f" ] || { bad="$bad $b(missing)"; continue; }
	w=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
	[ -z "$w" ] || bad="$bad $b(warnings: $w)"
done
for p in shmring.7 shmring.4 shmring_region.3 shmring_stream.3 shmring_msg.3 shmring_mpsc.3 \
	 shmring_bcast.3 shmring_seg.3 shmring-stream.1 shmring-bench.1; do
	[ -f "$mandir/man${p##*.}/$p" ] || bad="$bad $p(not installed)"
done
# one section-1 page per installed tool
for t in "$root"/bin/*; do
	[ -x "$t" ] || continue
	[ -f "$mandir/man1/${t##*/}.1" ] || bad="$bad ${t##*/}.1(no page for the tool)"
done
[ -z "$bad" ] || echo "# man pages:$bad"
check "$([ -z "$bad" ] && [ "$npages" -gt 0 ]; echo $?)" "install.man_pages ($npages pages)"

# 10: link pages: "man shmring_stream_write" shows shmring_stream(3), and
# every link page points at an installed page.
bad=
nlinks=0
for f in "$mandir"/man3/*.3; do
	[ -f "$f" ] || continue
	l=$(head -n 1 "$f")
	case $l in
	.so\ *) nlinks=$((nlinks + 1))
		[ -f "$mandir/${l#.so }" ] || bad="$bad ${f##*/}->${l#.so }" ;;
	esac
done
out=$(MANWIDTH=80 man -M "$mandir" 3 shmring_stream_write 2>&1 | grep -c 'shmring_stream_write')
[ "$out" -gt 0 ] || bad="$bad man-shmring_stream_write"
[ -z "$bad" ] || echo "# link pages:$bad"
check "$([ -z "$bad" ] && [ "$nlinks" -gt 0 ]; echo $?)" "install.man_links ($nlinks link pages)"

# 11: the udev rule.
rule=$tmp/etc/udev/rules.d/60-shmring.rules
if [ -f "$rule" ] && grep -q 'KERNEL=="shmring"' "$rule" && grep -q 'GROUP="shmring"' "$rule" &&
   grep -q 'MODE="0660"' "$rule" && cmp -s "$rule" udev/60-shmring.rules; then
	ok "install.udev_rule"
else
	notok "install.udev_rule ($rule)"
fi

# 12: the DKMS sources with the version filled in, complete enough to build.
ver=$(bash packaging/dkms-install.sh --print-version 2>/dev/null)
src=$tmp/usr/src/shmring-$ver
bad=
[ -n "$ver" ] || bad=" no-version"
[ -f "$src/dkms.conf" ] || bad="$bad dkms.conf"
grep -qx "PACKAGE_VERSION=\"$ver\"" "$src/dkms.conf" 2>/dev/null || bad="$bad PACKAGE_VERSION"
grep -q '@VERSION@' "$src/dkms.conf" 2>/dev/null && bad="$bad @VERSION@-left"
grep -qx 'PACKAGE_NAME="shmring"' "$src/dkms.conf" 2>/dev/null || bad="$bad PACKAGE_NAME"
grep -qx 'AUTOINSTALL="yes"' "$src/dkms.conf" 2>/dev/null || bad="$bad AUTOINSTALL"
for f in Kbuild include/uapi/linux/shmring.h kmod/*.c kmod/*.h; do
	cmp -s "$f" "$src/$f" || bad="$bad $f"
done
[ -z "$bad" ] || echo "# DKMS tree $src:$bad"
check "$([ -z "$bad" ]; echo $?)" "install.dkms_sources"

# 13: modinfo describes every module parameter.
if [ "$module" = 0 ]; then
	skip "install.modinfo_param_descriptions" "--no-module"
elif [ ! -d "/lib/modules/$(uname -r)/build" ] && ! ls -d /usr/src/linux-headers-*-amd64 >/dev/null 2>&1; then
	skip "install.modinfo_param_descriptions" "no kernel headers"
else
	log=$logdir/make-module.log
	timeout -k 5 "$tmo" make -s module >"$log" 2>&1
	rc=$?
	if [ "$rc" != 0 ] || [ ! -f shmring.ko ]; then
		show "$log"
		notok "install.modinfo_param_descriptions (make module failed)"
	else
		bad='' np=0
		# parmtype lines are "name:type"; parm lines "name:description (type)",
		# or "name:(type)" for a parameter without a description.
		parms=$(modinfo -F parm shmring.ko)
		while IFS=: read -r p t; do
			np=$((np + 1))
			line=$(grep -m 1 -F "$p:" <<<"$parms")
			d=${line#"$p:"}
			d=${d%"($t)"}
			[ "${line%%:*}" = "$p" ] && [ -n "${d// /}" ] || bad="$bad $p"
		done < <(modinfo -F parmtype shmring.ko)
		[ -z "$bad" ] || echo "# parameters without a description:$bad"
		check "$([ -z "$bad" ] && [ "$np" -gt 0 ]; echo $?)" "install.modinfo_param_descriptions ($np parameters)"
	fi
fi

# 14: the man sources lint clean and every public function has a page.
log=$logdir/man-check.log
bash man/check-pages.sh >"$log" 2>&1
rc=$?
[ "$rc" = 0 ] || show "$log"
check "$rc" "install.man_check (every public function has a page)"

exit "$failed"
