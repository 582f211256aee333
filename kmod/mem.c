// SPDX-License-Identifier: GPL-2.0
/*
 * shmring: ring memory.
 *
 * DATA is cut into 2 MiB chunks. Each chunk is one compound page of order 9
 * when the allocator can give one, else pieces of order 4, else of order 0
 * (each piece compound when its order is above 0, so that a 4 KiB PTE on any
 * of its pages holds a reference on the whole piece). META is order-0 pages,
 * CTRL is one page. Everything is zeroed, charged to the creator's memory
 * cgroup (__GFP_ACCOUNT) and never movable, so it is neither swapped nor
 * migrated.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/numa.h>

#include "shmring_internal.h"

static gfp_t shmring_gfp(bool strict)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN |
		    __GFP_RETRY_MAYFAIL;

	if (strict)
		gfp |= __GFP_THISNODE;
	return gfp;
}

static void shmring_chunk_free(struct shmring_chunk *c)
{
	unsigned int i;

	if (!c->pieces)
		return;
	for (i = 0; i < c->nr_pieces; i++) {
		if (!c->pieces[i])
			continue;
		c->pieces[i]->mapping = NULL;
		__free_pages(c->pieces[i], c->order);
	}
	if (c->pieces != &c->one)
		kvfree(c->pieces);
	c->pieces = NULL;
	c->nr_pieces = 0;
}

static int shmring_chunk_alloc_order(struct shmring_chunk *c, int nid,
				     gfp_t gfp, unsigned int order)
{
	unsigned int n = c->nr_pages >> order;
	unsigned int i;

	if (n == 1) {
		c->one = NULL;
		c->pieces = &c->one;
	} else {
		c->pieces = kvcalloc(n, sizeof(*c->pieces), GFP_KERNEL_ACCOUNT);
		if (!c->pieces)
			return -ENOMEM;
	}
	c->nr_pieces = n;
	c->order = order;
	if (order)
		gfp |= __GFP_COMP;
	for (i = 0; i < n; i++) {
		c->pieces[i] = alloc_pages_node(nid, gfp, order);
		if (!c->pieces[i]) {
			shmring_chunk_free(c);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * Tries order *max_order first, then smaller ones. A failed order is not
 * tried again for the following chunks of the same ring (*max_order drops):
 * when memory is short that keeps a large CREATE from compacting and
 * reclaiming once per chunk before it fails or falls back.
 */
static int shmring_chunk_alloc(struct shmring_chunk *c, int nid, gfp_t gfp,
			       unsigned int *max_order)
{
	if (*max_order >= SHMRING_CHUNK_ORDER) {
		if (c->nr_pages == SHMRING_CHUNK_PAGES &&
		    !shmring_chunk_alloc_order(c, nid, gfp, SHMRING_CHUNK_ORDER))
			return 0;
		if (c->nr_pages == SHMRING_CHUNK_PAGES)
			*max_order = SHMRING_MID_ORDER;
	}
	if (*max_order >= SHMRING_MID_ORDER) {
		if (IS_ALIGNED(c->nr_pages, 1U << SHMRING_MID_ORDER) &&
		    !shmring_chunk_alloc_order(c, nid, gfp, SHMRING_MID_ORDER))
			return 0;
		if (IS_ALIGNED(c->nr_pages, 1U << SHMRING_MID_ORDER))
			*max_order = 0;
	}
	return shmring_chunk_alloc_order(c, nid, gfp, 0);
}

int shmring_mem_alloc(struct shmring_ring *ring, bool nohuge, bool strict)
{
	gfp_t gfp = shmring_gfp(strict);
	unsigned int max_order = nohuge ? 0 : SHMRING_CHUNK_ORDER;
	int nid = ring->nid;
	unsigned long left = ring->data_pages;
	u32 i;
	int err = -ENOMEM;

	ring->nr_chunks = DIV_ROUND_UP(ring->data_pages, SHMRING_CHUNK_PAGES);
	ring->chunks = kvcalloc(ring->nr_chunks, sizeof(*ring->chunks),
				GFP_KERNEL_ACCOUNT);
	if (!ring->chunks)
		goto fail;
	ring->page_bytes = SHMRING_CHUNK_BYTES;
	for (i = 0; i < ring->nr_chunks; i++) {
		struct shmring_chunk *c = &ring->chunks[i];

		c->nr_pages = min_t(unsigned long, left, SHMRING_CHUNK_PAGES);
		left -= c->nr_pages;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto fail;
		}
		if (shmring_chunk_alloc(c, nid, gfp, &max_order))
			goto fail;
		if (c->order == SHMRING_CHUNK_ORDER)
			ring->nr_huge_chunks++;
		ring->page_bytes = min_t(u32, ring->page_bytes,
					 PAGE_SIZE << c->order);
		cond_resched();
	}

	ring->meta = kcalloc(ring->meta_pages, sizeof(*ring->meta),
			     GFP_KERNEL_ACCOUNT);
	if (!ring->meta)
		goto fail;
	for (i = 0; i < ring->meta_pages; i++) {
		ring->meta[i] = alloc_pages_node(nid, gfp, 0);
		if (!ring->meta[i])
			goto fail;
	}

	ring->ctrl_page = alloc_pages_node(nid, gfp, 0);
	if (!ring->ctrl_page)
		goto fail;
	ring->ctrl = page_address(ring->ctrl_page);

	ring->bell_page = alloc_pages_node(nid, gfp, 0);
	if (!ring->bell_page)
		goto fail;

	ring->nid = page_to_nid(ring->chunks[0].pieces[0]);
	return 0;

fail:
	shmring_mem_free(ring);
	return err;
}

void shmring_mem_free(struct shmring_ring *ring)
{
	u32 i;

	if (ring->chunks) {
		for (i = 0; i < ring->nr_chunks; i++)
			shmring_chunk_free(&ring->chunks[i]);
		kvfree(ring->chunks);
		ring->chunks = NULL;
	}
	if (ring->meta) {
		for (i = 0; i < ring->meta_pages; i++) {
			if (!ring->meta[i])
				continue;
			ring->meta[i]->mapping = NULL;
			__free_pages(ring->meta[i], 0);
		}
		kfree(ring->meta);
		ring->meta = NULL;
	}
	if (ring->ctrl_page) {
		ring->ctrl_page->mapping = NULL;
		__free_pages(ring->ctrl_page, 0);
		ring->ctrl_page = NULL;
		ring->ctrl = NULL;
	}
	if (ring->bell_page) {
		ring->bell_page->mapping = NULL;
		__free_pages(ring->bell_page, 0);
		ring->bell_page = NULL;
	}
}

/*
 * Gives every order-0 page the ring's mapping and its file page offset, as
 * the page cache would, so that process-shared futex keys (and pthread
 * PROCESS_SHARED objects) work on them: all of META, CTRL and BELL, and DATA where
 * it is made of order-0 pages. Compound pieces are left without a mapping: on
 * 6.1 a 4 KiB rmap of a compound page that has one is treated as a file THP
 * (PageDoubleMap, page lock expected), which these pages are not. A DATA
 * page gets its offset in the first copy. Mappings are cleared again before
 * the pages are freed.
 */
void shmring_mem_set_mapping(struct shmring_ring *ring,
			     struct address_space *mapping)
{
	u32 i, j;

	for (i = 0; i < ring->nr_chunks; i++) {
		struct shmring_chunk *c = &ring->chunks[i];

		if (c->order)
			continue;
		for (j = 0; j < c->nr_pieces; j++) {
			c->pieces[j]->mapping = mapping;
			c->pieces[j]->index = ((pgoff_t)i << SHMRING_CHUNK_ORDER) + j;
		}
	}
	for (i = 0; i < ring->meta_pages; i++) {
		ring->meta[i]->mapping = mapping;
		ring->meta[i]->index = SHMRING_PG_META + i;
	}
	ring->ctrl_page->mapping = mapping;
	ring->ctrl_page->index = SHMRING_PG_CTRL;
	ring->bell_page->mapping = mapping;
	ring->bell_page->index = SHMRING_PG_BELL;
}

/* The 4 KiB page at page index @rel (< data_pages) of DATA. */
struct page *shmring_data_page(struct shmring_ring *ring, unsigned long rel)
{
	struct shmring_chunk *c = &ring->chunks[rel >> SHMRING_CHUNK_ORDER];
	unsigned long idx = rel & (SHMRING_CHUNK_PAGES - 1);

	return nth_page(c->pieces[idx >> c->order],
			idx & ((1UL << c->order) - 1));
}

/*
 * The 2 MiB compound page that starts at page index @rel (a multiple of
 * SHMRING_CHUNK_PAGES below data_pages), or NULL if that chunk is not one.
 */
struct page *shmring_data_huge(struct shmring_ring *ring, unsigned long rel)
{
	struct shmring_chunk *c = &ring->chunks[rel >> SHMRING_CHUNK_ORDER];

	return c->order == SHMRING_CHUNK_ORDER ? c->pieces[0] : NULL;
}
