/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The filesystem backend of the object store, the default: objects are
 * files under TOLLGATE_STORAGE_DIR/objects, sharded by tenant and then
 * by the first two characters of the object id, so that no directory
 * grows past what a tenant writes in 1/256th of its ids.  An object is
 * the spool file renamed into place after an fsync, and the directory
 * is synced after the rename: once store() returns, a power cut leaves
 * the whole object or (before the rename) none of it.  Objects are
 * never rewritten: a new write is a new key (sql/020).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tollgate.h"

#define BLOBFS_CHUNK	65536

/*
 * "<tenant>/<id>" is objects/<tenant>/<id's first 2>/<id>; the parent
 * directory's path in dir (for the fsync).  -1 when it does not fit.
 */
static int
blobfs_path(const char *key, char *path, size_t size, char *dir,
    size_t dsize)
{
	const char	*leaf;
	int		 n;

	leaf = strrchr(key, '/');
	leaf = leaf != NULL ? leaf + 1 : key;
	if (strlen(leaf) < 2)
		return -1;
	n = snprintf(dir, dsize, "%s/objects/%.*s/%.2s", conf.storage_dir,
	    (int)(leaf - key > 0 ? leaf - key - 1 : 0), key, leaf);
	if (n < 0 || (size_t)n >= dsize)
		return -1;
	n = snprintf(path, size, "%s/%s", dir, leaf);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return 0;
}

/*
 * mkdir -p of the object's directory, below the existing objects/,
 * each new directory synced into its parent.
 */
static int
blobfs_mkdirs(char *dir)
{
	char	*p = dir + strlen(conf.storage_dir) + strlen("/objects");
	int	 rc = 0;

	while (rc == 0 && (p = strchr(p + 1, '/')) != NULL) {
		*p = '\0';
		rc = util_mkdir_durable(dir);
		*p = '/';
	}
	if (rc == 0)
		rc = util_mkdir_durable(dir);
	return rc;
}

static enum blob_rc
blobfs_store(struct req *r, const char *key, struct blob_spool *sp)
{
	char		 path[512], dir[512];
	enum blob_rc	 rc = BLOB_ERROR;

	if (blobfs_path(key, path, sizeof(path), dir, sizeof(dir)) == -1)
		goto done;
	if (fsync(sp->fd) == -1) {
		rc = util_errno_full(errno) || errno == EIO ? BLOB_FULL :
		    BLOB_ERROR;
		log_warnx("%s: fsync %s: %s", __func__, sp->path,
		    strerror(errno));
		goto done;
	}
	if (blobfs_mkdirs(dir) == -1 || rename(sp->path, path) == -1) {
		rc = util_errno_full(errno) ? BLOB_FULL : BLOB_ERROR;
		log_warnx("%s: %s: %s", __func__, path, strerror(errno));
		goto done;
	}
	/* The spool's name is gone: nothing for blob_store() to unlink. */
	sp->path[0] = '\0';
	if (util_fsync_dir(dir) == -1) {
		rc = BLOB_FULL;
		log_warnx("%s: fsync %s: %s", __func__, dir, strerror(errno));
		unlink(path);
		goto done;
	}
	rc = BLOB_OK;
done:
	return rc;
}

static enum blob_rc
blobfs_fetch(struct req *r, const char *key,
    int (*sink)(void *, const void *, size_t), void *arg)
{
	char		 path[512], dir[512], chunk[BLOBFS_CHUNK];
	ssize_t		 n;
	int		 fd = -1;
	enum blob_rc	 rc = BLOB_ERROR;

	if (blobfs_path(key, path, sizeof(path), dir, sizeof(dir)) == -1)
		goto done;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			rc = BLOB_NOTFOUND;
		else
			log_warnx("%s: open %s: %s", __func__, path,
			    strerror(errno));
		goto done;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			log_warnx("%s: read %s: %s", __func__, path,
			    strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		if (sink(arg, chunk, (size_t)n) == -1)
			goto done;
	}
	rc = BLOB_OK;
done:
	if (fd != -1)
		close(fd);
	return rc;
}

static enum blob_rc
blobfs_remove(struct req *r, const char *key)
{
	char	 path[512], dir[512];

	if (blobfs_path(key, path, sizeof(path), dir, sizeof(dir)) == -1)
		return BLOB_ERROR;
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warnx("%s: unlink %s: %s", __func__, path, strerror(errno));
		return util_errno_full(errno) ? BLOB_FULL : BLOB_ERROR;
	}
	return BLOB_OK;
}

const struct blob_backend blob_fs = {
	.name = "fs",
	.init = NULL,
	.store = blobfs_store,
	.fetch = blobfs_fetch,
	.remove = blobfs_remove,
};
