#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Lint the shmring manual pages: every man/*.N renders with groff -ww and
# man --warnings without a diagnostic, carries an SPDX line and a NAME
# section; every public function declared in userlib/include/shmring/*.h
# is named in the NAME line of a section-3 page (so it gets a link page),
# and every name there exists in the headers.
set -uo pipefail

case ${1:-} in
-h|--help)
	echo "Usage: man/check-pages.sh   (lint man/*.[1-8]; exit 1 on any problem)"
	exit 0 ;;
'') ;;
*) echo "check-pages: no arguments expected (see --help)" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top/man" || exit 2
bad=0
fail() { echo "check-pages: $*" >&2; bad=1; }

command -v groff >/dev/null || { echo "check-pages: groff not installed" >&2; exit 2; }
pages=$(ls ./*.[1-8] 2>/dev/null)
[ -n "$pages" ] || { echo "check-pages: no pages" >&2; exit 1; }

for p in $pages; do
	p=${p#./}
	head -n 3 "$p" | grep -q 'SPDX-License-Identifier:' || fail "$p: no SPDX line"
	grep -q '^\.SH NAME' "$p" || fail "$p: no NAME section"
	grep -q '^\.TH ' "$p" || fail "$p: no .TH line"
	out=$(groff -man -ww -z -t "$p" 2>&1)
	[ -z "$out" ] || fail "$p: groff: $out"
	if command -v man >/dev/null; then
		out=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null)
		[ -z "$out" ] || fail "$p: man --warnings: $out"
	fi
done

# Public functions: declarations starting a line in the headers, without
# the "__" of the library's internal slow paths.
hdr_names=$(grep -hoE '^([A-Za-z_][A-Za-z0-9_ *]*[ *])?shmring_[a-z0-9_]+\(' \
	"$top"/userlib/include/shmring/*.h | grep -oE 'shmring_[a-z0-9_]+\($' |
	tr -d '(' | grep -v '__' | sort -u)
page_names=$(for p in ./*.3; do
	sed -n '/^\.SH NAME/{n;s/ *\\-.*//;s/\\//g;s/,/ /g;p;q}' "$p"
done | tr ' ' '\n' | grep -v '^$' | sort -u)
for f in $hdr_names; do
	grep -qx "$f" <<<"$page_names" || fail "function $f has no man page (add it to a NAME line)"
done
for f in $page_names; do
	case $f in shmring_*) ;; *) continue ;; esac
	grep -qx "$f" <<<"$hdr_names" || [ -f "$f.3" ] ||
		fail "NAME line names $f, which no public header declares"
done

if [ "$bad" = 0 ]; then
	echo "check-pages: $(echo "$pages" | wc -w) pages clean, $(echo "$hdr_names" | wc -w) functions covered"
fi
exit "$bad"
