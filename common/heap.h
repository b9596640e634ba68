/* heap: a fixed-capacity binary min-heap of int64 values (expiry times in
 * epoch ms). Bounded by construction: a push beyond the capacity fails. */
#ifndef STOCKFLOW_HEAP_H
#define STOCKFLOW_HEAP_H

#include <stddef.h>
#include <stdint.h>

struct heap;

/* Returns 0, or -ENOMEM. cap is the most values it will ever hold. */
int heap_new(struct heap **out, size_t cap);
void heap_free(struct heap *h); /* NULL is a no-op */

/* Adds v. Returns 0, or -1 when the heap is full (v is not added). */
int heap_push(struct heap *h, int64_t v);

/* The smallest value, or INT64_MAX when empty. */
int64_t heap_peek(const struct heap *h);

/* Removes the smallest value (no-op when empty). */
void heap_pop(struct heap *h);

size_t heap_len(const struct heap *h);

/* Bytes of memory the heap holds (for the pending-holds figure). */
size_t heap_bytes(const struct heap *h);

#endif
