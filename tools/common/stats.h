/* SPDX-License-Identifier: MIT */
/*
 * Order statistics over small arrays of samples (benchmark rounds,
 * batched round-trip times). The input array is sorted in place.
 */
#ifndef SHMRING_TOOLS_STATS_H
#define SHMRING_TOOLS_STATS_H

#include <stddef.h>

/* Sort ascending in place. */
void stats_sort(double *v, size_t n);

/*
 * Percentile p in [0, 100] of n samples with linear interpolation between
 * closest ranks; sorts v. Returns 0.0 when n == 0.
 */
double stats_percentile(double *v, size_t n, double p);

/* Median (percentile 50); sorts v. */
double stats_median(double *v, size_t n);

#endif /* SHMRING_TOOLS_STATS_H */
