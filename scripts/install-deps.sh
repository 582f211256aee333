#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages listed in scripts/deps.txt that are missing,
# then unpack the few kernel-source files the build needs (kselftest
# harness, checkpatch) into build/kernel-files. Idempotent and quiet when
# everything is already there.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
want=$(grep -vE '^\s*(#|$)' "$top/scripts/deps.txt")
missing=()
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	sudo= ; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
	$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Files taken from Debian's linux-source-6.1 at build time (GPL-2.0, not
# committed): the kselftest harness for selftests/, checkpatch for lint.
kf="$top/build/kernel-files"
if [ ! -f "$kf/.done" ]; then
	src=$(ls /usr/src/linux-source-6.1.tar.xz)
	mkdir -p "$kf"
	p=linux-source-6.1
	tar -xJf "$src" -C "$kf" --strip-components=1 \
		$p/tools/testing/selftests/kselftest.h \
		$p/tools/testing/selftests/kselftest_harness.h \
		$p/scripts/checkpatch.pl $p/scripts/spelling.txt \
		$p/scripts/const_structs.checkpatch
	touch "$kf/.done"
fi
