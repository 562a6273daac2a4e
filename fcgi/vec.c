/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * Vector collections in flat files.  A collection is a series of
 * generations, each one immutable file written whole by vec_apply()
 * (copy on write: the old generation's slots, with the changes, into a
 * new file) and searched by vec_search() through a small per-process
 * cache of read-only shared mappings, so that every responder reads the
 * same pages of the kernel's page cache and a search makes no system
 * call once its file is mapped.  Which generation is current is the
 * caller's to record (in the database); this file only reads and
 * writes files, and removes nothing unless asked (vec_remove()).
 *
 * The file <dir>/<name>.<generation>.vec, in native byte order, which
 * must be little-endian with IEEE 754 binary32 floats (both checked
 * when this file is compiled, so a file never meets a reader that
 * would read it differently):
 *
 *	offset	size	field
 *	0	8	magic "TGVEC1\0\0"
 *	8	4	u32 version, 1
 *	12	4	u32 dim, 1..VEC_DIM_MAX
 *	16	8	u64 count of slots
 *	24	8	u64 generation, the one in the file's name
 *	32	4	u32 slot size in bytes, vec_slot_size(dim)
 *	36	28	reserved, zero
 *	64		count slots, one after another
 *
 * A slot, for P = dim rounded up to VEC_LANES:
 *
 *	0	128	the id, NUL padded (no NUL at 128 characters)
 *	128	4 * P	the vector scaled to unit length, float32; the
 *			P - dim values past the end are zero
 *	128+4P	4	float32, the vector's length as the client sent
 *			it (unit * length gives the vector back)
 *	132+4P	28	zero
 *
 * The slot size, 160 + 4P, and the header are multiples of 32 bytes,
 * so every vector starts 32-byte aligned in a page-aligned mapping, and
 * the zeros past dim let the dot product run whole blocks of VEC_LANES
 * with no remainder loop.  The file's size is exactly 64 + count *
 * slot; anything else is refused before a slot is read.
 *
 * A file is never changed once it has its name: a reader holding a
 * mapping of a generation that has since been removed keeps reading
 * the old inode.  Overwriting or truncating a named file in place would
 * break that (a truncated mapping faults with SIGBUS), hence the
 * temporary file and rename() in vec_apply().
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tollgate.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vec.c writes native floats and its files are little-endian"
#endif
_Static_assert(sizeof(float) == 4 && FLT_MANT_DIG == 24 &&
    FLT_MAX_EXP == 128, "vec.c needs IEEE 754 binary32 floats");

#define VEC_MAGIC	"TGVEC1\0\0"
#define VEC_VERSION	1
#define VEC_HEAD_SIZE	64
#define VEC_ID_FIELD	VEC_ID_MAX	/* bytes of a slot's id */
#define VEC_LANES	16		/* floats summed side by side */
#define VEC_ALIGN	32		/* bytes, a vector's alignment */
#define VEC_CACHE_MAX	16		/* mappings kept per process */
#define VEC_PATH_MAX	512
/* Bytes written at once when the new file is built. */
#define VEC_OUT_BUF	(1024 * 1024)

struct vec_head {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 dim;
	uint64_t	 count;
	uint64_t	 generation;
	uint32_t	 slot;
	char		 reserved[28];
};
_Static_assert(sizeof(struct vec_head) == VEC_HEAD_SIZE,
    "the header is 64 bytes");

/* A file whose header was checked against its size. */
struct vec_map {
	const unsigned char	*base;	/* NULL when not mapped */
	size_t			 size;
	unsigned		 dim;
	size_t			 pdim;	/* dim rounded up to VEC_LANES */
	size_t			 slot;
	uint64_t		 count;
	uint64_t		 gen;
};

/*
 * The mapping cache, keyed by "<dir>/<name>" and generation.  A
 * responder searches a handful of collections, so a linear scan of
 * sixteen entries costs less than hashing would.
 */
struct vec_cached {
	char		 key[VEC_PATH_MAX];	/* "" when free */
	struct vec_map	 map;
	uint64_t	 used;			/* LRU clock at last use */
};
static struct vec_cached	vec_cache[VEC_CACHE_MAX];
static uint64_t			vec_clock;

/* One id named by a vec_apply() call, with what becomes of it. */
struct vec_op {
	const char	*id;
	size_t		 idlen;
	const double	*v;	/* the last upsert's values, or NULL */
	size_t		 first;	/* index of its first upsert, or nup */
	int		 deleted;
	int		 written;	/* replaced in place in the copy */
};

/* The ids of a vec_apply() call, hashed by open addressing. */
struct vec_ops {
	struct vec_op	*op;	/* in the order first named */
	size_t		 nop;
	size_t		*table;	/* op index + 1, 0 when empty */
	size_t		 mask;
};

/* The new file, written through a buffer. */
struct vec_out {
	int		 fd;
	char		 tmp[VEC_PATH_MAX];	/* "" once renamed */
	unsigned char	*buf;
	size_t		 len;
};

/* A candidate hit: the heap holds the best top_k seen so far. */
struct vec_rank {
	float		 score;
	size_t		 slot;
};

static int
vec_id_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	    c == '-';
}

int
vec_id_valid(const char *id)
{
	size_t	 i;

	if (id == NULL)
		return 0;
	for (i = 0; id[i] != '\0'; i++)
		if (i == VEC_ID_MAX || !vec_id_char((unsigned char)id[i]))
			return 0;
	return i > 0;
}

/*
 * Names become file names: no slash, and no leading dot, so neither
 * "." nor ".." and nothing that could be vec_apply()'s hidden
 * temporary file.  "<name>.<gen>.vec" is unambiguous read from the
 * right: a generation has no dot.
 */
int
vec_name_valid(const char *name)
{
	size_t	 i;

	if (name == NULL || name[0] == '.')
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		if (i == VEC_NAME_MAX || !vec_id_char((unsigned char)name[i]))
			return 0;
	return i > 0;
}

/*
 * Refuse what has no cosine or cannot be stored: the wrong length,
 * NaN, infinities, values that become infinite as float32, a vector
 * that is zero as float32, or one whose length is not a finite float32
 * (it is stored with the vector).
 */
int
vec_check(const double *v, size_t n, unsigned dim, const char **why)
{
	double	 sum = 0;
	size_t	 i;
	int	 nonzero = 0;

	if (dim == 0 || dim > VEC_DIM_MAX) {
		*why = "dimension out of range";
		return -1;
	}
	if (n != dim) {
		*why = "wrong dimension";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (isnan(v[i])) {
			*why = "NaN in vector";
			return -1;
		}
		if (isinf(v[i])) {
			*why = "infinity in vector";
			return -1;
		}
		if (fabs(v[i]) > FLT_MAX) {
			*why = "value out of float32 range";
			return -1;
		}
		if ((float)v[i] != 0)
			nonzero = 1;
		sum += v[i] * v[i];
	}
	if (!nonzero) {
		*why = "all-zero vector";
		return -1;
	}
	if (sqrt(sum) > FLT_MAX) {
		*why = "vector length out of float32 range";
		return -1;
	}
	return 0;
}

static size_t
vec_pdim(unsigned dim)
{
	return ((size_t)dim + VEC_LANES - 1) / VEC_LANES * VEC_LANES;
}

static size_t
vec_slot_size(unsigned dim)
{
	return VEC_ID_FIELD + vec_pdim(dim) * sizeof(float) + VEC_ALIGN;
}

/* Subnormal products slow some cores down tenfold; they add nothing. */
static float
vec_flush(double x)
{
	return fabs(x) < FLT_MIN ? 0.0f : (float)x;
}

static int
vec_key(const char *dir, const char *name, char *buf, size_t size)
{
	int	 n;

	if (dir == NULL || !vec_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
vec_path(const char *dir, const char *name, uint64_t gen, char *buf,
    size_t size)
{
	int	 n;

	if (dir == NULL || !vec_name_valid(name) || gen == 0) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, size, "%s/%s.%llu.vec", dir, name,
	    (unsigned long long)gen);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Trust nothing in a header until it agrees with the file's size: a
 * truncated, foreign or half-written file fails here and is never
 * indexed.  dim 0 takes any dimension (vec_stat()).
 */
static int
vec_head_check(const struct vec_head *h, size_t size, unsigned dim,
    uint64_t gen, struct vec_map *m, const char **cause)
{
	if (memcmp(h->magic, VEC_MAGIC, sizeof(h->magic)) != 0 ||
	    h->version != VEC_VERSION) {
		*cause = "not a vector file";
		return -1;
	}
	if (h->dim == 0 || h->dim > VEC_DIM_MAX ||
	    h->slot != vec_slot_size(h->dim)) {
		*cause = "corrupt vector file header";
		return -1;
	}
	if (dim != 0 && h->dim != dim) {
		*cause = "dimension mismatch";
		return -1;
	}
	if (h->generation != gen) {
		*cause = "generation mismatch";
		return -1;
	}
	if (h->count > (SIZE_MAX - VEC_HEAD_SIZE) / h->slot ||
	    size != VEC_HEAD_SIZE + h->count * h->slot) {
		*cause = "vector file size does not match its header";
		return -1;
	}
	m->size = size;
	m->dim = h->dim;
	m->pdim = vec_pdim(h->dim);
	m->slot = h->slot;
	m->count = h->count;
	m->gen = gen;
	return 0;
}

/*
 * Map a generation read-only and check it.  "populate" reads it in
 * and fills the page tables now, for a mapping that the cache keeps:
 * the first search pays for the faults, none after it.
 */
static int
vec_map_open(const char *path, unsigned dim, uint64_t gen, int populate,
    struct vec_map *m, const char **cause)
{
	struct vec_head	 h;
	struct stat	 st;
	void		*p = MAP_FAILED;
	int		 fd, flags = MAP_SHARED, rc = -1, save;

	m->base = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = "open";
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		*cause = "fstat";
		goto done;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < VEC_HEAD_SIZE ||
	    (uintmax_t)st.st_size > SIZE_MAX) {
		*cause = "not a vector file";
		errno = EINVAL;
		goto done;
	}
#ifdef MAP_POPULATE
	if (populate)
		flags |= MAP_POPULATE;
#endif
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, flags, fd, 0);
	if (p == MAP_FAILED) {
		*cause = "mmap";
		goto done;
	}
	memcpy(&h, p, sizeof(h));
	if (vec_head_check(&h, (size_t)st.st_size, dim, gen, m,
	    cause) == -1) {
		errno = EINVAL;
		goto done;
	}
	m->base = p;
	p = MAP_FAILED;
	rc = 0;
done:
	save = errno;
	if (p != MAP_FAILED)
		munmap(p, (size_t)st.st_size);
	close(fd);
	errno = save;
	return rc;
}

static void
vec_map_close(struct vec_map *m)
{
	if (m->base != NULL)
		munmap((void *)m->base, m->size);
	m->base = NULL;
}

static void
vec_cache_free(struct vec_cached *c)
{
	vec_map_close(&c->map);
	c->key[0] = '\0';
}

static struct vec_cached *
vec_cache_find(const char *key, uint64_t gen)
{
	size_t	 i;

	for (i = 0; i < VEC_CACHE_MAX; i++)
		if (vec_cache[i].key[0] != '\0' &&
		    vec_cache[i].map.gen == gen &&
		    strcmp(vec_cache[i].key, key) == 0)
			return &vec_cache[i];
	return NULL;
}

/*
 * Room for a new mapping of key at gen: older generations of the same
 * collection go first (searches move to the newest, and an unmapped
 * removed file gives its space back), then a free entry, then the
 * least recently used.  A lagging reader's older generation does not
 * evict a newer one; it takes an entry of its own.
 */
static struct vec_cached *
vec_cache_slot(const char *key, uint64_t gen)
{
	struct vec_cached	*c, *pick = NULL;
	size_t			 i;

	for (i = 0; i < VEC_CACHE_MAX; i++) {
		c = &vec_cache[i];
		if (c->key[0] != '\0' && c->map.gen < gen &&
		    strcmp(c->key, key) == 0)
			vec_cache_free(c);
	}
	for (i = 0; i < VEC_CACHE_MAX; i++) {
		c = &vec_cache[i];
		if (c->key[0] == '\0')
			return c;
		if (pick == NULL || c->used < pick->used)
			pick = c;
	}
	vec_cache_free(pick);
	return pick;
}

/* The cached mapping of a generation, mapped now if need be. */
static const struct vec_map *
vec_cache_get(const char *dir, const char *name, uint64_t gen,
    const char **cause)
{
	struct vec_cached	*c;
	struct vec_map		 m;
	char			 key[VEC_PATH_MAX], path[VEC_PATH_MAX];

	if (vec_key(dir, name, key, sizeof(key)) == -1 ||
	    vec_path(dir, name, gen, path, sizeof(path)) == -1) {
		*cause = "bad collection name or generation";
		return NULL;
	}
	if ((c = vec_cache_find(key, gen)) == NULL) {
		if (vec_map_open(path, 0, gen, 1, &m, cause) == -1)
			return NULL;
		c = vec_cache_slot(key, gen);
		memcpy(c->key, key, sizeof(c->key));
		c->map = m;
	}
	c->used = ++vec_clock;
	return &c->map;
}

size_t
vec_cache_size(void)
{
	size_t	 i, n = 0;

	for (i = 0; i < VEC_CACHE_MAX; i++)
		if (vec_cache[i].key[0] != '\0')
			n++;
	return n;
}

void
vec_cache_clear(void)
{
	size_t	 i;

	for (i = 0; i < VEC_CACHE_MAX; i++)
		if (vec_cache[i].key[0] != '\0')
			vec_cache_free(&vec_cache[i]);
}

/* --- vec_apply(): the ids named, hashed ------------------------------ */

static uint64_t
vec_hash(const char *s, size_t n)
{
	uint64_t	 h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	size_t		 i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static struct vec_op *
vec_ops_find(const struct vec_ops *ops, const char *id, size_t idlen)
{
	struct vec_op	*op;
	size_t		 i;

	i = vec_hash(id, idlen) & ops->mask;
	for (; ops->table[i] != 0; i = (i + 1) & ops->mask) {
		op = &ops->op[ops->table[i] - 1];
		if (op->idlen == idlen && memcmp(op->id, id, idlen) == 0)
			return op;
	}
	return NULL;
}

/* The entry for id, added when new (the table has room: see below). */
static struct vec_op *
vec_ops_add(struct vec_ops *ops, const char *id, size_t nup)
{
	struct vec_op	*op;
	size_t		 i, idlen = strlen(id);

	if ((op = vec_ops_find(ops, id, idlen)) != NULL)
		return op;
	i = vec_hash(id, idlen) & ops->mask;
	while (ops->table[i] != 0)
		i = (i + 1) & ops->mask;
	op = &ops->op[ops->nop++];
	memset(op, 0, sizeof(*op));
	op->id = id;
	op->idlen = idlen;
	op->first = nup;
	ops->table[i] = ops->nop;
	return op;
}

/*
 * Deletes apply before upserts: an id both deleted and upserted is
 * appended as new.  Of two upserts of one id the last one's values
 * win, at the place of the first.
 */
static void
vec_ops_build(struct vec_ops *ops, const struct vec_item *up, size_t nup,
    const char *const *del, size_t ndel)
{
	struct vec_op	*op;
	size_t		 i, size = 16;

	/* At most half full, so a probe ends soon. */
	while (size < 2 * (nup + ndel))
		size *= 2;
	ops->op = xmalloc((nup + ndel) * sizeof(*ops->op));
	ops->table = xmalloc(size * sizeof(*ops->table));
	memset(ops->table, 0, size * sizeof(*ops->table));
	ops->mask = size - 1;
	ops->nop = 0;
	for (i = 0; i < ndel; i++)
		vec_ops_add(ops, del[i], nup)->deleted = 1;
	for (i = 0; i < nup; i++) {
		op = vec_ops_add(ops, up[i].id, nup);
		op->v = up[i].v;
		if (op->first == nup)
			op->first = i;
	}
}

static void
vec_ops_free(struct vec_ops *ops)
{
	free(ops->op);
	free(ops->table);
}

/* --- vec_apply(): the new file ---------------------------------------- */

static int
vec_write_all(int fd, const void *p, size_t n)
{
	const unsigned char	*c = p;
	ssize_t			 w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
vec_out_flush(struct vec_out *o)
{
	if (o->len > 0 && vec_write_all(o->fd, o->buf, o->len) == -1)
		return -1;
	o->len = 0;
	return 0;
}

/*
 * Buffered, except that a long run of unchanged slots goes to write()
 * straight from the old file's mapping, without a copy here.
 */
static int
vec_out_put(struct vec_out *o, const void *p, size_t n)
{
	if (o->len + n > VEC_OUT_BUF && vec_out_flush(o) == -1)
		return -1;
	if (n >= VEC_OUT_BUF)
		return vec_write_all(o->fd, p, n);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

/* The slot of an upsert: its id, its values scaled to unit length. */
static void
vec_slot_fill(unsigned char *slot, unsigned dim, const struct vec_op *op)
{
	float	 f;
	double	 sum = 0, norm;
	size_t	 i;

	memset(slot, 0, vec_slot_size(dim));
	memcpy(slot, op->id, op->idlen);
	for (i = 0; i < dim; i++)
		sum += op->v[i] * op->v[i];
	norm = sqrt(sum);
	for (i = 0; i < dim; i++) {
		f = vec_flush(op->v[i] / norm);
		memcpy(slot + VEC_ID_FIELD + i * sizeof(f), &f, sizeof(f));
	}
	f = (float)norm;
	memcpy(slot + VEC_ID_FIELD + vec_pdim(dim) * sizeof(f), &f,
	    sizeof(f));
}

/*
 * Copy the old slots in order, leaving out the deleted and replacing
 * the upserted in place.  Unchanged slots are written in runs.
 */
static int
vec_copy_old(struct vec_out *o, const struct vec_map *old,
    struct vec_ops *ops, unsigned char *slot, uint64_t *count)
{
	const unsigned char	*p, *run;
	struct vec_op		*op;
	uint64_t		 i;

	run = old->base + VEC_HEAD_SIZE;
	for (i = 0; i < old->count; i++) {
		p = old->base + VEC_HEAD_SIZE + i * old->slot;
		op = vec_ops_find(ops, (const char *)p,
		    strnlen((const char *)p, VEC_ID_FIELD));
		if (op == NULL)
			continue;
		if (vec_out_put(o, run, (size_t)(p - run)) == -1)
			return -1;
		*count += (uint64_t)(p - run) / old->slot;
		run = p + old->slot;
		if (op->deleted)
			continue;
		vec_slot_fill(slot, old->dim, op);
		if (vec_out_put(o, slot, old->slot) == -1)
			return -1;
		op->written = 1;
		(*count)++;
	}
	p = old->base + old->size;
	if (vec_out_put(o, run, (size_t)(p - run)) == -1)
		return -1;
	*count += (uint64_t)(p - run) / old->slot;
	return 0;
}

/* Append the upserts of new ids, in the order they were first named. */
static int
vec_append_new(struct vec_out *o, unsigned dim, const struct vec_item *up,
    size_t nup, struct vec_ops *ops, unsigned char *slot, uint64_t *count)
{
	struct vec_op	*op;
	size_t		 i;

	for (i = 0; i < nup; i++) {
		op = vec_ops_find(ops, up[i].id, strlen(up[i].id));
		if (op->first != i || op->written)
			continue;
		vec_slot_fill(slot, dim, op);
		if (vec_out_put(o, slot, vec_slot_size(dim)) == -1)
			return -1;
		op->written = 1;
		(*count)++;
	}
	return 0;
}

/*
 * Write the slots after a zero header, then the header with the count,
 * then make the file durable before it takes its name, and the name
 * durable before the caller records the generation.
 */
static enum vec_rc
vec_out_write(struct vec_out *o, const char *dir, const char *path,
    unsigned dim, uint64_t gen, const struct vec_map *old,
    struct vec_ops *ops, const struct vec_item *up, size_t nup,
    const char **cause)
{
	struct vec_head	 h;
	unsigned char	*slot;
	uint64_t	 count = 0;
	ssize_t		 w;
	enum vec_rc	 rc = VEC_ERROR;

	slot = xmalloc(vec_slot_size(dim));
	memset(&h, 0, sizeof(h));
	*cause = "write";
	if (vec_out_put(o, &h, sizeof(h)) == -1 ||
	    (old->base != NULL &&
	    vec_copy_old(o, old, ops, slot, &count) == -1) ||
	    vec_append_new(o, dim, up, nup, ops, slot, &count) == -1 ||
	    vec_out_flush(o) == -1)
		goto done;
	memcpy(h.magic, VEC_MAGIC, sizeof(h.magic));
	h.version = VEC_VERSION;
	h.dim = dim;
	h.count = count;
	h.generation = gen;
	h.slot = (uint32_t)vec_slot_size(dim);
	if ((w = pwrite(o->fd, &h, sizeof(h), 0)) != (ssize_t)sizeof(h)) {
		if (w >= 0)
			errno = EIO;
		goto done;
	}
	*cause = "fsync";
	if (fsync(o->fd) == -1)
		goto done;
	*cause = "rename";
	if (rename(o->tmp, path) == -1)
		goto done;
	o->tmp[0] = '\0';
	*cause = "fsync of the directory";
	if (util_fsync_dir(dir) == -1)
		goto done;
	*cause = NULL;
	rc = VEC_OK;
done:
	if (rc != VEC_OK && util_errno_full(errno))
		rc = VEC_FULL;
	free(slot);
	return rc;
}

static int
vec_apply_valid(const char *dir, const char *name, uint64_t old_gen,
    uint64_t new_gen, unsigned dim, const struct vec_item *up, size_t nup,
    const char *const *del, size_t ndel, const char **cause)
{
	size_t	 i;

	if (dir == NULL || !vec_name_valid(name)) {
		*cause = "bad collection name";
		return -1;
	}
	if (dim == 0 || dim > VEC_DIM_MAX) {
		*cause = "dimension out of range";
		return -1;
	}
	if (new_gen == 0 || new_gen <= old_gen) {
		*cause = "the new generation must follow the old one";
		return -1;
	}
	for (i = 0; i < ndel; i++)
		if (!vec_id_valid(del[i])) {
			*cause = "bad item id";
			return -1;
		}
	for (i = 0; i < nup; i++) {
		if (!vec_id_valid(up[i].id)) {
			*cause = "bad item id";
			return -1;
		}
		if (vec_check(up[i].v, dim, dim, cause) == -1)
			return -1;
	}
	return 0;
}

/*
 * Write generation new_gen of a collection: old_gen's slots (none when
 * old_gen is 0) with the deletes and upserts applied.  VEC_FULL when
 * the file system is full or not writable, so the caller can answer
 * 503 rather than 500; errno stays as the failing call left it.  On
 * any failure no file of new_gen is left behind, unless the failure
 * was the final fsync of the directory (the file is complete then, but
 * its name may not survive a crash: the caller must not publish it).
 */
enum vec_rc
vec_apply(const char *dir, const char *name, uint64_t old_gen,
    uint64_t new_gen, unsigned dim, const struct vec_item *upserts,
    size_t nup, const char *const *deletes, size_t ndel,
    const char **cause)
{
	struct vec_ops	 ops = { NULL, 0, NULL, 0 };
	struct vec_map	 old = { NULL, 0, 0, 0, 0, 0, 0 };
	struct vec_out	 o = { -1, "", NULL, 0 };
	char		 path[VEC_PATH_MAX], oldpath[VEC_PATH_MAX];
	enum vec_rc	 rc = VEC_ERROR;
	int		 n, save;

	*cause = NULL;
	if (vec_apply_valid(dir, name, old_gen, new_gen, dim, upserts, nup,
	    deletes, ndel, cause) == -1) {
		errno = EINVAL;
		return VEC_ERROR;
	}
	if (vec_path(dir, name, new_gen, path, sizeof(path)) == -1 ||
	    (old_gen > 0 &&
	    vec_path(dir, name, old_gen, oldpath, sizeof(oldpath)) == -1)) {
		*cause = "path too long";
		return VEC_ERROR;
	}
	vec_ops_build(&ops, upserts, nup, deletes, ndel);
	if (old_gen > 0 &&
	    vec_map_open(oldpath, dim, old_gen, 0, &old, cause) == -1)
		goto done;
	/* Hidden (a dot) and not ending in .vec while incomplete. */
	n = snprintf(o.tmp, sizeof(o.tmp), "%s/.%s.%llu.XXXXXX", dir, name,
	    (unsigned long long)new_gen);
	if (n < 0 || (size_t)n >= sizeof(o.tmp)) {
		o.tmp[0] = '\0';
		*cause = "path too long";
		errno = ENAMETOOLONG;
		goto done;
	}
	if ((o.fd = mkostemp(o.tmp, O_CLOEXEC)) == -1) {
		o.tmp[0] = '\0';
		*cause = "mkstemp";
		rc = util_errno_full(errno) ? VEC_FULL : VEC_ERROR;
		goto done;
	}
	o.buf = xmalloc(VEC_OUT_BUF);
	rc = vec_out_write(&o, dir, path, dim, new_gen, &old, &ops, upserts,
	    nup, cause);
done:
	save = errno;
	if (o.fd != -1)
		close(o.fd);
	if (o.tmp[0] != '\0')
		unlink(o.tmp);
	free(o.buf);
	vec_map_close(&old);
	vec_ops_free(&ops);
	errno = save;
	return rc;
}

/* --- vec_search() ------------------------------------------------------- */

/*
 * The inner loop of every search, written for GCC's vectoriser at -O2:
 * VEC_LANES independent sums (a float sum cannot be reordered, so one
 * running total would not vectorise; lanes side by side can), n a
 * multiple of VEC_LANES (the zeros past dim), both pointers aligned
 * and not aliased.  Unrolled, the lanes stay in four SSE registers,
 * enough to hide the latency of the additions; rolled, GCC 12 keeps
 * them in memory and runs at half the speed (-fopt-info-vec says
 * "vectorized" either way).
 */
static float
vec_dot(const float *restrict a, const float *restrict b, size_t n)
{
	float	 acc[VEC_LANES] = { 0 };
	float	 sum = 0;
	size_t	 i, j;

	a = __builtin_assume_aligned(a, VEC_ALIGN);
	b = __builtin_assume_aligned(b, VEC_ALIGN);
	for (i = 0; i < n; i += VEC_LANES) {
#pragma GCC unroll 16
		for (j = 0; j < VEC_LANES; j++)
			acc[j] += a[i + j] * b[i + j];
	}
	for (j = 0; j < VEC_LANES; j++)
		sum += acc[j];
	return sum;
}

/*
 * A min-heap on (score, -slot): the root is the worst hit kept, the
 * lowest score, and of equal scores the latest slot.
 */
static int
vec_rank_worse(const struct vec_rank *a, const struct vec_rank *b)
{
	return a->score < b->score ||
	    (a->score == b->score && a->slot > b->slot);
}

static void
vec_heap_down(struct vec_rank *heap, size_t len, size_t i)
{
	struct vec_rank	 t;
	size_t		 c;

	while ((c = 2 * i + 1) < len) {
		if (c + 1 < len && vec_rank_worse(&heap[c + 1], &heap[c]))
			c++;
		if (!vec_rank_worse(&heap[c], &heap[i]))
			break;
		t = heap[i];
		heap[i] = heap[c];
		heap[c] = t;
		i = c;
	}
}

static void
vec_heap_up(struct vec_rank *heap, size_t i)
{
	struct vec_rank	 t;
	size_t		 p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (!vec_rank_worse(&heap[i], &heap[p]))
			break;
		t = heap[i];
		heap[i] = heap[p];
		heap[p] = t;
		i = p;
	}
}

/*
 * Score every slot, keeping the best k.  Slots come in order, so a
 * later slot with the root's score is worse than the root and a strict
 * ">" keeps ties in slot order.  A NaN score (a damaged file) is never
 * kept.
 */
static size_t
vec_scan(const struct vec_map *m, const float *q, struct vec_rank *heap,
    size_t k)
{
	const unsigned char	*p;
	float			 s;
	size_t			 i, len = 0;

	p = m->base + VEC_HEAD_SIZE + VEC_ID_FIELD;
	for (i = 0; i < m->count; i++, p += m->slot) {
		s = vec_dot((const float *)(const void *)p, q, m->pdim);
		if (isnan(s))
			continue;
		if (len < k) {
			heap[len].score = s;
			heap[len].slot = i;
			vec_heap_up(heap, len++);
		} else if (s > heap[0].score) {
			heap[0].score = s;
			heap[0].slot = i;
			vec_heap_down(heap, len, 0);
		}
	}
	return len;
}

static int
vec_rank_cmp(const void *a, const void *b)
{
	const struct vec_rank	*x = a, *y = b;

	if (vec_rank_worse(x, y))
		return 1;
	if (vec_rank_worse(y, x))
		return -1;
	return 0;
}

/*
 * The query scaled to unit length into q (pdim floats, zeros past
 * dim), in double so that a long vector loses nothing.
 */
static int
vec_query(const float *query, unsigned dim, float *q, const char **cause)
{
	double	 sum = 0, norm;
	size_t	 i;

	for (i = 0; i < dim; i++) {
		if (!isfinite(query[i])) {
			*cause = "query is not finite";
			return -1;
		}
		sum += (double)query[i] * query[i];
	}
	if (sum == 0) {
		*cause = "all-zero query";
		return -1;
	}
	norm = sqrt(sum);
	memset(q, 0, vec_pdim(dim) * sizeof(*q));
	for (i = 0; i < dim; i++)
		q[i] = vec_flush(query[i] / norm);
	return 0;
}

static void
vec_hit_fill(struct vec_hit *hit, const struct vec_map *m,
    const struct vec_rank *r)
{
	const char	*id;
	double		 s = r->score;

	id = (const char *)m->base + VEC_HEAD_SIZE + r->slot * m->slot;
	memcpy(hit->id, id, VEC_ID_FIELD);
	hit->id[VEC_ID_FIELD] = '\0';
	/* Rounding can carry a unit vector's cosine just past 1. */
	hit->score = s > 1 ? 1 : s < -1 ? -1 : s;
}

/*
 * The top_k slots of generation gen by cosine similarity to query (dim
 * floats), best first, ties in slot order, into hits (room for top_k);
 * *nhits is min(top_k, count).  Not for threads: the mapping cache is
 * the process's.
 */
int
vec_search(const char *dir, const char *name, uint64_t gen, unsigned dim,
    const float *query, size_t top_k, struct vec_hit *hits, size_t *nhits,
    const char **cause)
{
	_Alignas(VEC_ALIGN) float	 q[VEC_DIM_MAX];
	const struct vec_map		*m;
	struct vec_rank			*heap;
	size_t				 i, k;

	*nhits = 0;
	*cause = NULL;
	if (top_k < 1 || top_k > VEC_TOPK_MAX) {
		*cause = "top_k out of range";
		return -1;
	}
	if (dim == 0 || dim > VEC_DIM_MAX) {
		*cause = "dimension out of range";
		return -1;
	}
	if (vec_query(query, dim, q, cause) == -1)
		return -1;
	if ((m = vec_cache_get(dir, name, gen, cause)) == NULL)
		return -1;
	if (m->dim != dim) {
		*cause = "dimension mismatch";
		return -1;
	}
	k = m->count < top_k ? (size_t)m->count : top_k;
	if (k == 0)
		return 0;
	heap = xmalloc(k * sizeof(*heap));
	k = vec_scan(m, q, heap, k);
	qsort(heap, k, sizeof(*heap), vec_rank_cmp);
	for (i = 0; i < k; i++)
		vec_hit_fill(&hits[i], m, &heap[i]);
	*nhits = k;
	free(heap);
	return 0;
}

/* A generation's dimension, count and size, from the cache if mapped. */
int
vec_stat(const char *dir, const char *name, uint64_t gen,
    struct vec_stat *st, const char **cause)
{
	struct vec_cached	*c;
	struct vec_map		 m;
	char			 key[VEC_PATH_MAX], path[VEC_PATH_MAX];

	*cause = NULL;
	if (vec_key(dir, name, key, sizeof(key)) == -1 ||
	    vec_path(dir, name, gen, path, sizeof(path)) == -1) {
		*cause = "bad collection name or generation";
		return -1;
	}
	if ((c = vec_cache_find(key, gen)) != NULL)
		m = c->map;
	else if (vec_map_open(path, 0, gen, 0, &m, cause) == -1)
		return -1;
	st->dim = m.dim;
	st->count = m.count;
	st->bytes = m.size;
	if (c == NULL)
		vec_map_close(&m);
	return 0;
}

/*
 * Remove a generation's file, and this process's mapping of it.  Other
 * processes keep theirs (and the disk space) until they map a newer
 * generation of the collection or evict it.  Gone already is success.
 */
int
vec_remove(const char *dir, const char *name, uint64_t gen)
{
	struct vec_cached	*c;
	char			 key[VEC_PATH_MAX], path[VEC_PATH_MAX];

	if (vec_key(dir, name, key, sizeof(key)) == -1 ||
	    vec_path(dir, name, gen, path, sizeof(path)) == -1)
		return -1;
	if ((c = vec_cache_find(key, gen)) != NULL)
		vec_cache_free(c);
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	return 0;
}
