# SPDX-License-Identifier: GPL-2.0
#
# shmring top-level Makefile. The kernel module is described by ./Kbuild
# and built with the kernel's own build system; the rest are plain make.
#
#   make            library, tools, module (against Debian's 6.1 headers)
#   make demo       the main job: writer and reader streaming through a ring
#   make check      every test lane; ends with "N passed, N failed, N skipped"
#   make install    library, headers, pkg-config file, tools, man pages, udev rule
#   make dkms-install  module sources for DKMS

KVER   ?= $(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | grep -v -- -rt- | sort -V | tail -1 | sed 's,.*/linux-headers-,,')
KDIR   ?= /usr/src/linux-headers-$(KVER)
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps lib tools module module-check demo check clean install uninstall dkms-install man-check

all: lib tools module

deps:
	@bash scripts/install-deps.sh

lib:
	$(MAKE) -C userlib

tools: lib
	$(MAKE) -C tools
	$(MAKE) -C tools/bench

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# W=1, sparse and checkpatch --strict over the module sources.
module-check: deps
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 C=2 modules
	perl build/kernel-files/scripts/checkpatch.pl --no-tree --strict --quiet \
		--ignore FILE_PATH_CHANGES -f kmod/*.c kmod/*.h include/uapi/linux/shmring.h

demo: deps
	@bash scripts/demo.sh

check: deps
	@bash scripts/check.sh

install: lib tools
	$(MAKE) -C userlib install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	$(MAKE) -C tools install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	$(MAKE) -C tools/bench install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	$(MAKE) -C man install PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	$(MAKE) -C packaging install-udev install-group PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

# The module sources under /usr/src/shmring-<version> for DKMS (docs/install.md).
dkms-install:
	$(MAKE) -C packaging install-dkms DESTDIR=$(DESTDIR)

uninstall:
	-$(MAKE) -C userlib uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	-$(MAKE) -C tools uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	-$(MAKE) -C tools/bench uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	-$(MAKE) -C man uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)
	-$(MAKE) -C packaging uninstall PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

man-check:
	$(MAKE) -C man check

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	-$(MAKE) -C userlib clean
	-$(MAKE) -C tools clean
	-$(MAKE) -C tools/bench clean
	rm -rf build/out build/logs
