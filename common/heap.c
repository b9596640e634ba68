#include "heap.h"

#include <errno.h>
#include <stdlib.h>

struct heap {
    size_t len, cap;
    int64_t v[];
};

int heap_new(struct heap **out, size_t cap)
{
    struct heap *h = malloc(sizeof(*h) + cap * sizeof(int64_t));
    if (!h)
        return -ENOMEM;
    h->len = 0;
    h->cap = cap;
    *out = h;
    return 0;
}

void heap_free(struct heap *h)
{
    free(h);
}

int heap_push(struct heap *h, int64_t v)
{
    if (h->len == h->cap)
        return -1;
    size_t i = h->len++;
    while (i > 0 && h->v[(i - 1) / 2] > v) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = v;
    return 0;
}

int64_t heap_peek(const struct heap *h)
{
    return h->len ? h->v[0] : INT64_MAX;
}

void heap_pop(struct heap *h)
{
    if (h->len == 0)
        return;
    int64_t last = h->v[--h->len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->v[c + 1] < h->v[c])
            c++;
        if (h->v[c] >= last)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->len)
        h->v[i] = last;
}

size_t heap_len(const struct heap *h)
{
    return h->len;
}

size_t heap_bytes(const struct heap *h)
{
    return sizeof(*h) + h->cap * sizeof(int64_t);
}
