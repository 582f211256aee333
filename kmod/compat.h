/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shmring: the only place for kernel-version differences.
 *
 * The SHMRING_HAVE_* macros come from feature probes in the top-level Kbuild
 * (grep over the headers of the kernel being built against).
 */
#ifndef _SHMRING_COMPAT_H
#define _SHMRING_COMPAT_H

#include <linux/mm.h>
#include <linux/huge_mm.h>
#include <linux/sched/mm.h>
#include <linux/pagemap.h>
#include <linux/eventfd.h>
#ifdef SHMRING_HAVE_PFN_T
#include <linux/pfn_t.h>
#endif

/* address_space_operations member that marks a page dirty without I/O. */
#ifdef SHMRING_HAVE_NOOP_DIRTY_FOLIO
#define SHMRING_AOPS_DIRTY	.dirty_folio = noop_dirty_folio
#else
#define SHMRING_AOPS_DIRTY	.set_page_dirty = __set_page_dirty_no_writeback
#endif

static inline void shmring_vm_flags_set(struct vm_area_struct *vma,
					unsigned long flags)
{
#ifdef SHMRING_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static inline void shmring_vm_flags_clear(struct vm_area_struct *vma,
					  unsigned long flags)
{
#ifdef SHMRING_HAVE_VM_FLAGS_SET
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

/* The ->huge_fault() size argument: an enum up to 6.5, an order later. */
#ifdef SHMRING_HAVE_PE_SIZE
#define shmring_fault_size_t enum page_entry_size
static inline bool shmring_fault_is_pmd(enum page_entry_size size)
{
	return size == PE_SIZE_PMD;
}
#else
#define shmring_fault_size_t unsigned int
static inline bool shmring_fault_is_pmd(unsigned int order)
{
	return order == PMD_SHIFT - PAGE_SHIFT;
}
#endif

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
/* Map the 2 MiB compound page starting at @pfn with one PMD entry. */
static inline vm_fault_t shmring_insert_pmd(struct vm_fault *vmf,
					    unsigned long pfn, bool write)
{
#ifdef SHMRING_HAVE_PFN_T
	return vmf_insert_pfn_pmd(vmf, pfn_to_pfn_t(pfn), write);
#else
	return vmf_insert_pfn_pmd(vmf, pfn, write);
#endif
}
#endif

static inline unsigned long
shmring_mm_get_unmapped_area(struct file *file, unsigned long addr,
			     unsigned long len, unsigned long pgoff,
			     unsigned long flags)
{
#ifdef SHMRING_HAVE_MM_GET_UNMAPPED_AREA
	return mm_get_unmapped_area(current->mm, file, addr, len, pgoff, flags);
#else
	return current->mm->get_unmapped_area(file, addr, len, pgoff, flags);
#endif
}

/* Add 1 to an eventfd: 6.8 dropped the count argument. */
static inline void shmring_eventfd_signal(struct eventfd_ctx *ctx)
{
#ifdef SHMRING_HAVE_EVENTFD_SIGNAL_1
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

#endif /* _SHMRING_COMPAT_H */
