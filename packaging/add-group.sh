#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Create the system group "shmring" that udev/60-shmring.rules gives
# /dev/shmring to, if it does not exist yet.
set -euo pipefail

usage() {
	cat <<'USAGE'
Usage: packaging/add-group.sh [--dry-run] [--group NAME] [-h]

Create the system group that may open /dev/shmring (default "shmring"),
unless it exists. Needs root (groupadd). Add users with
"usermod -aG shmring USER"; they must log in again.

  --dry-run     say what would be done, change nothing
  --group NAME  another group name (then edit the udev rule to match)
  -h, --help    this text
USAGE
}

dry=0 group=shmring
while [ $# -gt 0 ]; do
	case $1 in
	--dry-run) dry=1; shift ;;
	--group) [ $# -ge 2 ] || { echo "add-group: --group needs a name" >&2; exit 2; }
		group=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "add-group: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $group in
''|-*|*[!a-z0-9_-]*) echo "add-group: bad group name '$group'" >&2; exit 2 ;;
esac

if getent group "$group" >/dev/null; then
	echo "add-group: group '$group' exists"
	exit 0
fi
if [ "$dry" = 1 ]; then
	echo "groupadd --system $group"
	exit 0
fi
if ! command -v groupadd >/dev/null; then
	echo "add-group: groupadd not found (package passwd)" >&2
	exit 1
fi
groupadd --system "$group"
echo "add-group: created system group '$group'"
