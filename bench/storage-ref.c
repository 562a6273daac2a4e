/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * bench/storage-ref.c: the reference of the storage rows (bench/README.md,
 * "Storage records").  What the fs backend does to the disk for one
 * record, and nothing else: WRITERS threads, each in a loop for SECONDS,
 * write a file of SIZE bytes in 64 KiB writes into DIR/tmp (as the
 * product spools a body into TOLLGATE_STORAGE_DIR/tmp), fsync it, close
 * it, rename it into one of 256 directories under DIR/objects (as
 * blob-fs.c shards objects) and fsync that directory.  No hashing, no
 * HTTP, no database.
 *
 *   storage-ref DIR SIZE WRITERS SECONDS
 *
 * DIR must exist, on the filesystem to compare with; the program makes
 * DIR/tmp and DIR/objects/00..ff and leaves the files (bench/run
 * removes DIR).  It prints one line:
 *
 *   files N seconds S files_per_s R p50_ms A p99_ms B
 *
 * where the percentiles are of each file's time, open to the directory's
 * fsync.  Exit 1 on any failure (nothing is printed then).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK		65536
#define SHARDS		256
#define MAX_OPS		(1 << 20)	/* per writer: far above any run */

struct writer {
	pthread_t	 tid;
	int		 id;
	double		*lat;		/* ms of each file */
	size_t		 n;
	int		 failed;
};

static const char	*dir;
static long long	 size;
static double		 deadline;
static unsigned char	*data;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sync_dir(const char *path)
{
	int	 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(fd) == 0)
		rc = 0;
	close(fd);
	return rc;
}

/* One record's worth of disk work: spool, fsync, rename, fsync(dir). */
static int
one_file(struct writer *w, size_t i)
{
	char		 tmp[4096], final[4096], shard[4096];
	long long	 left = size;
	size_t		 n;
	unsigned	 shard_of;
	int		 fd;

	/* Spread over every shard, as random object ids are. */
	shard_of = (unsigned)((i * 2654435761u + (size_t)w->id * 97) %
	    SHARDS);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/tmp/spool.%d.%zu", dir,
	    w->id, i) >= sizeof(tmp) ||
	    (size_t)snprintf(shard, sizeof(shard), "%s/objects/%02x", dir,
	    shard_of) >= sizeof(shard) ||
	    (size_t)snprintf(final, sizeof(final), "%s/objects/%02x/w%d-%zu",
	    dir, shard_of, w->id, i) >= sizeof(final)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	while (left > 0) {
		n = left > CHUNK ? CHUNK : (size_t)left;
		if (write_all(fd, data, n) == -1) {
			close(fd);
			return -1;
		}
		left -= (long long)n;
	}
	if (fsync(fd) == -1) {
		close(fd);
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, final) == -1 ||
	    sync_dir(shard) == -1)
		return -1;
	return 0;
}

static void *
run(void *arg)
{
	struct writer	*w = arg;
	double		 t0, t1;

	while (w->n < MAX_OPS && (t0 = now()) < deadline) {
		if (one_file(w, w->n) == -1) {
			fprintf(stderr, "storage-ref: writer %d: %s\n", w->id,
			    strerror(errno));
			w->failed = 1;
			break;
		}
		t1 = now();
		w->lat[w->n++] = (t1 - t0) * 1000;
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile, nearest rank, of n sorted values. */
static double
rank(const double *v, size_t n, double p)
{
	size_t	 i = (size_t)(p * n);

	if ((double)i < p * n)
		i++;
	return v[i < 1 ? 0 : i - 1];
}

int
main(int argc, char *argv[])
{
	struct writer	*w;
	char		 path[4096];
	double		*all, start, secs, elapsed;
	size_t		 total = 0, k;
	int		 writers, i, failed = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: storage-ref DIR SIZE WRITERS SECONDS\n");
		return 2;
	}
	dir = argv[1];
	size = strtoll(argv[2], NULL, 10);
	writers = atoi(argv[3]);
	secs = atof(argv[4]);
	if (size < 1 || writers < 1 || writers > 64 || secs <= 0) {
		fprintf(stderr, "storage-ref: bad arguments\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/tmp", dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		goto fail;
	snprintf(path, sizeof(path), "%s/objects", dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		goto fail;
	for (i = 0; i < SHARDS; i++) {
		snprintf(path, sizeof(path), "%s/objects/%02x", dir,
		    (unsigned)i);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			goto fail;
	}
	/* Bytes that do not compress, the same every run. */
	if ((data = malloc(CHUNK)) == NULL)
		goto fail;
	srand(14);
	for (i = 0; i < CHUNK; i++)
		data[i] = (unsigned char)(rand() >> 7);
	if ((w = calloc((size_t)writers, sizeof(*w))) == NULL)
		goto fail;
	start = now();
	deadline = start + secs;
	for (i = 0; i < writers; i++) {
		w[i].id = i;
		if ((w[i].lat = malloc(MAX_OPS * sizeof(double))) == NULL)
			goto fail;
		if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0)
			goto fail;
	}
	for (i = 0; i < writers; i++) {
		pthread_join(w[i].tid, NULL);
		total += w[i].n;
		failed |= w[i].failed;
	}
	/* The last file of each writer ends after the deadline. */
	elapsed = now() - start;
	if (failed || total == 0)
		return 1;
	if ((all = malloc(total * sizeof(double))) == NULL)
		goto fail;
	for (i = 0, k = 0; i < writers; i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
		k += w[i].n;
	}
	qsort(all, total, sizeof(double), cmp_double);
	printf("files %zu seconds %.3f files_per_s %.1f p50_ms %.2f "
	    "p99_ms %.2f\n", total, elapsed, total / elapsed,
	    rank(all, total, 0.5), rank(all, total, 0.99));
	return 0;
fail:
	fprintf(stderr, "storage-ref: %s: %s\n", path, strerror(errno));
	return 1;
}
