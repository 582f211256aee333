// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: mmap regions, fault paths and address selection.
 *
 * Route: every open file has its own anonymous inode with S_DAX on a private
 * pseudo filesystem (main.c), so vma_is_dax() is true and the 6.1 core calls
 * ->huge_fault() for our VMAs (it does not for an ordinary character device).
 * ->huge_fault() installs one PMD per 2 MiB compound chunk with
 * vmf_insert_pfn_pmd() (no page reference, the entry is "special huge" for
 * zap/split/fork); ->fault() installs refcounted 4 KiB PTEs with
 * vmf_insert_page(), so GUP works on both. The VMA is VM_MIXEDMAP.
 *
 * Regions by offset: DATA at SHMRING_OFF_DATA, up to 2 * data_bytes long
 * (the second half aliases the first), META at SHMRING_OFF_META, CTRL (one
 * read-only page) at SHMRING_OFF_CTRL, BELL (one page, writable by every
 * bound file, even a read-only attach) at SHMRING_OFF_BELL. A mapping must
 * start exactly at a region start and end inside the region.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/coredump.h>

#include "shmring_internal.h"
#include "compat.h"

bool shmring_pmd_supported(void)
{
	return IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) && S_DAX != 0 &&
	       READ_ONCE(shmring_huge);
}

/* The page backing file page @pgoff, or NULL if @pgoff is in no region. */
static struct page *shmring_region_page(struct shmring_ring *ring,
					pgoff_t pgoff)
{
	if (pgoff < SHMRING_PG_META) {
		if (pgoff >= ring->data_pages) {
			pgoff -= ring->data_pages;
			if (pgoff >= ring->data_pages)
				return NULL;
		}
		return shmring_data_page(ring, pgoff);
	}
	if (pgoff < SHMRING_PG_CTRL) {
		pgoff -= SHMRING_PG_META;
		return pgoff < ring->meta_pages ? ring->meta[pgoff] : NULL;
	}
	if (pgoff == SHMRING_PG_CTRL)
		return ring->ctrl_page;
	return pgoff == SHMRING_PG_BELL ? ring->bell_page : NULL;
}

static vm_fault_t shmring_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct shmring_ring *ring = vma->vm_private_data;
	struct page *page = shmring_region_page(ring, vmf->pgoff);
	vm_fault_t ret;

	if (!page)
		return VM_FAULT_SIGBUS;
	ret = vmf_insert_page(vma, vmf->address & PAGE_MASK, page);
	if (ret == VM_FAULT_NOPAGE)
		atomic64_inc(&ring->pte_faults);
	return ret;
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
static vm_fault_t shmring_vm_huge_fault(struct vm_fault *vmf,
					shmring_fault_size_t size)
{
	struct vm_area_struct *vma = vmf->vma;
	struct shmring_ring *ring = vma->vm_private_data;
	unsigned long haddr = vmf->address & PMD_MASK;
	struct page *head;
	pgoff_t hpgoff;
	vm_fault_t ret;

	if (!shmring_fault_is_pmd(size) || !READ_ONCE(shmring_huge))
		return VM_FAULT_FALLBACK;
	if ((vma->vm_flags & VM_NOHUGEPAGE) ||
	    test_bit(MMF_DISABLE_THP, &vma->vm_mm->flags))
		return VM_FAULT_FALLBACK;
	/* The whole 2 MiB must lie inside the VMA... */
	if (haddr < vma->vm_start || haddr + PMD_SIZE > vma->vm_end)
		return VM_FAULT_FALLBACK;
	/* ...and start on a chunk of DATA (in either copy). */
	hpgoff = linear_page_index(vma, haddr);
	if (hpgoff >= ring->data_pages * 2)
		return VM_FAULT_FALLBACK;
	if (hpgoff >= ring->data_pages)
		hpgoff -= ring->data_pages;
	if (!IS_ALIGNED(hpgoff, SHMRING_CHUNK_PAGES) ||
	    hpgoff + SHMRING_CHUNK_PAGES > ring->data_pages)
		return VM_FAULT_FALLBACK;
	head = shmring_data_huge(ring, hpgoff);
	if (!head)
		return VM_FAULT_FALLBACK;

	ret = shmring_insert_pmd(vmf, page_to_pfn(head),
				 vmf->flags & FAULT_FLAG_WRITE);
	if (ret == VM_FAULT_NOPAGE)
		atomic64_inc(&ring->pmd_faults);
	return ret;
}
#endif

static void shmring_vm_open(struct vm_area_struct *vma)
{
	shmring_ring_map_inc(vma->vm_private_data);
}

static void shmring_vm_close(struct vm_area_struct *vma)
{
	shmring_ring_map_dec(vma->vm_private_data);
}

static const struct vm_operations_struct shmring_vm_ops = {
	.open = shmring_vm_open,
	.close = shmring_vm_close,
	.fault = shmring_vm_fault,
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	.huge_fault = shmring_vm_huge_fault,
#endif
};

int shmring_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct shmring_file *sf = file->private_data;
	struct shmring_ring *ring = shmring_file_ring(sf);
	unsigned long npages = vma_pages(vma);
	unsigned long limit;
	bool is_data = false, is_ctrl = false, is_bell = false;

	if (!ring)
		return -ENXIO;
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;

	/* Page units throughout: no byte offset can overflow. */
	switch (vma->vm_pgoff) {
	case 0:
		is_data = true;
		limit = ring->data_pages * 2;
		break;
	case SHMRING_PG_META:
		limit = ring->meta_pages;
		break;
	case SHMRING_PG_CTRL:
		is_ctrl = true;
		limit = 1;
		break;
	case SHMRING_PG_BELL:
		is_bell = true;
		limit = 1;
		break;
	default:
		return -EINVAL;
	}
	if (npages > limit)
		return -EINVAL;

	if (is_ctrl && (vma->vm_flags & VM_WRITE))
		return -EPERM;
	/* BELL is writable for every bound file (the library's sleeper flags). */
	if (sf->rdonly && !is_bell && (vma->vm_flags & VM_WRITE))
		return -EACCES;

	if (is_ctrl || (sf->rdonly && !is_bell))
		shmring_vm_flags_clear(vma, VM_MAYWRITE);
	shmring_vm_flags_clear(vma, VM_MAYEXEC);
	shmring_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP |
			     (is_data ? VM_HUGEPAGE : 0));
	vma->vm_ops = &shmring_vm_ops;
	vma->vm_private_data = ring;
	shmring_ring_map_inc(ring);
	return 0;
}

/* DATA gets an address congruent to its offset modulo 2 MiB. */
unsigned long shmring_get_unmapped_area(struct file *file, unsigned long addr,
					unsigned long len, unsigned long pgoff,
					unsigned long flags)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	if (pgoff == 0 && READ_ONCE(shmring_huge))
		return thp_get_unmapped_area(file, addr, len, pgoff, flags);
#endif
	return shmring_mm_get_unmapped_area(file, addr, len, pgoff, flags);
}
