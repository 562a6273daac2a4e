/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * A growable buffer with a hard cap, for everything input can grow:
 * request bodies, upstream answers, rendered pages.  Reaching the cap
 * is an ordinary failure the caller reports (413, 502), never a crash.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static int
buf_grow(struct buf *b, size_t need)
{
	size_t	 size;

	if (need > b->max || need < b->len) {
		b->toobig = 1;
		return -1;
	}
	if (need + 1 <= b->size)
		return 0;
	size = b->size == 0 ? 256 : b->size;
	while (size < need + 1)
		size *= 2;
	if (size > b->max + 1)
		size = b->max + 1;
	b->p = xrealloc(b->p, size);
	b->size = size;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->toobig || buf_grow(b, b->len + n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (b->toobig)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_grow(b, b->len + (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Empty the buffer but keep its memory for the next request. */
void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->toobig = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->size = 0;
	b->toobig = 0;
}
