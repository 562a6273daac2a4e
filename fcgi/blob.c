/*
 * Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
 *
 * The object store of records and backups, the part both backends
 * share: the configuration check, the storage directory, the spool and
 * the choice of backend.  An upload is first spooled to a file under
 * TOLLGATE_STORAGE_DIR/tmp while its SHA-256 is computed, so that the
 * caller can compare the checksum before anything is stored (and S3 can
 * be sent the verified hash it signs); the backend then makes the spool
 * the object, by a rename (blob-fs.c) or an upload (blob-s3.c).
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tollgate.h"

#define BLOB_CHUNK		65536
#define BLOB_SPOOL_STALE_S	21600	/* a spool left by a dead process */

static int	 blob_ready;	/* the directories exist */

static const struct blob_backend *
blob_backend(void)
{
	return strcmp(conf.storage_backend, "s3") == 0 ? &blob_s3 : &blob_fs;
}

/*
 * Start-up: the backend is one we have, and an S3 backend has every
 * key it needs (a partial set would fail at the first upload instead).
 */
int
blob_conf_check(const struct conf *c, const char **cause)
{
	static const char	*s3keys[] = { "TOLLGATE_S3_ENDPOINT",
	    "TOLLGATE_S3_BUCKET", "TOLLGATE_S3_ACCESS_KEY",
	    "TOLLGATE_S3_SECRET_KEY" };
	size_t			 i;

	if (strcmp(c->storage_backend, "fs") != 0 &&
	    strcmp(c->storage_backend, "s3") != 0) {
		*cause = "TOLLGATE_STORAGE_BACKEND: must be fs or s3";
		return -1;
	}
	if (c->storage_dir[0] != '/') {
		*cause = "TOLLGATE_STORAGE_DIR: must be an absolute path";
		return -1;
	}
	if (strcmp(c->storage_backend, "s3") != 0)
		return 0;
	for (i = 0; i < sizeof(s3keys) / sizeof(s3keys[0]); i++)
		if (conf_require(c, s3keys[i], cause) == -1)
			return -1;
	return 0;
}

const char *
blob_dir(void)
{
	return conf.storage_dir;
}

/* One directory of the store, made private if it is new. */
static int
blob_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warnx("%s: mkdir %s: %s", __func__, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The store's directories, made on first use (after dropping root). */
static enum blob_rc
blob_prepare(void)
{
	static const char	*subs[] = { "", "/tmp", "/objects", "/vectors" };
	const char		*cause = NULL;
	char			 path[512];
	size_t			 i;

	if (blob_ready)
		return BLOB_OK;
	if (blob_backend()->init != NULL && blob_backend()->init(&cause) == -1) {
		log_warnx("storage: %s", cause != NULL ? cause : "not usable");
		return BLOB_ERROR;
	}
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s",
		    conf.storage_dir, subs[i]) >= sizeof(path))
			return BLOB_ERROR;
		if (blob_mkdir(path) == -1)
			return BLOB_FULL;
	}
	blob_ready = 1;
	return BLOB_OK;
}

/* Keys are ids joined by '/': nothing to escape, no "..". */
int
blob_key_valid(const char *k)
{
	size_t	 i, n = strlen(k);

	if (n == 0 || n > 200 || k[0] == '/' || k[0] == '.' ||
	    strstr(k, "..") != NULL || strstr(k, "//") != NULL ||
	    k[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		    (k[i] >= 'A' && k[i] <= 'Z') ||
		    (k[i] >= '0' && k[i] <= '9') ||
		    k[i] == '.' || k[i] == '_' || k[i] == '/' || k[i] == '-'))
			return 0;
	return 1;
}

static int
blob_write_all(int fd, const char *p, size_t n)
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

void
blob_spool_drop(struct blob_spool *sp)
{
	if (sp->fd != -1)
		close(sp->fd);
	sp->fd = -1;
	if (sp->path[0] != '\0' && unlink(sp->path) == -1 && errno != ENOENT)
		log_warnx("%s: unlink %s: %s", __func__, sp->path,
		    strerror(errno));
	sp->path[0] = '\0';
}

/*
 * Read the request's body, exactly len bytes, into a new spool file,
 * hashing as it goes.  BLOB_SHORT when the body ends early, BLOB_FULL
 * when the disk refuses; the spool is dropped on any failure.
 */
enum blob_rc
blob_spool(struct req *r, long long len, struct blob_spool *sp)
{
	EVP_MD_CTX	*md = NULL;
	char		 chunk[BLOB_CHUNK];
	unsigned int	 mdlen;
	int		 n;
	enum blob_rc	 rc;

	sp->fd = -1;
	sp->path[0] = '\0';
	sp->size = 0;
	if ((rc = blob_prepare()) != BLOB_OK)
		return rc;
	rc = BLOB_ERROR;
	if ((size_t)snprintf(sp->path, sizeof(sp->path), "%s/tmp/spool.XXXXXX",
	    conf.storage_dir) >= sizeof(sp->path)) {
		sp->path[0] = '\0';
		goto done;
	}
	if ((sp->fd = mkstemp(sp->path)) == -1) {
		rc = util_errno_full(errno) ? BLOB_FULL : BLOB_ERROR;
		log_warnx("%s: mkstemp in %s/tmp: %s", __func__,
		    conf.storage_dir, strerror(errno));
		sp->path[0] = '\0';
		goto done;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto done;
	while (sp->size < len) {
		if ((n = req_in_read(r, chunk, sizeof(chunk))) <= 0) {
			rc = BLOB_SHORT;
			goto done;
		}
		if (blob_write_all(sp->fd, chunk, (size_t)n) == -1) {
			rc = util_errno_full(errno) ? BLOB_FULL : BLOB_ERROR;
			log_warnx("%s: write %s: %s", __func__, sp->path,
			    strerror(errno));
			goto done;
		}
		if (EVP_DigestUpdate(md, chunk, (size_t)n) != 1)
			goto done;
		sp->size += n;
	}
	if (EVP_DigestFinal_ex(md, sp->sha256, &mdlen) != 1 || mdlen != 32)
		goto done;
	rc = BLOB_OK;
done:
	EVP_MD_CTX_free(md);
	if (rc != BLOB_OK)
		blob_spool_drop(sp);
	return rc;
}

/* The spool becomes the object "key"; the spool is gone either way. */
enum blob_rc
blob_store(struct req *r, const char *key, struct blob_spool *sp)
{
	enum blob_rc	 rc;

	if (!blob_key_valid(key)) {
		blob_spool_drop(sp);
		return BLOB_ERROR;
	}
	rc = blob_backend()->store(r, key, sp);
	blob_spool_drop(sp);
	return rc;
}

enum blob_rc
blob_fetch(struct req *r, const char *key,
    int (*sink)(void *, const void *, size_t), void *arg)
{
	enum blob_rc	 rc;

	if (!blob_key_valid(key))
		return BLOB_ERROR;
	if ((rc = blob_prepare()) != BLOB_OK)
		return rc;
	return blob_backend()->fetch(r, key, sink, arg);
}

enum blob_rc
blob_remove(struct req *r, const char *key)
{
	enum blob_rc	 rc;

	if (!blob_key_valid(key))
		return BLOB_ERROR;
	if ((rc = blob_prepare()) != BLOB_OK)
		return rc;
	return blob_backend()->remove(r, key);
}

/*
 * Spool files older than a few hours belong to a process that died
 * mid-upload (its reservation has expired long since): the worker
 * removes them.  The count removed.
 */
int
blob_spool_sweep(void)
{
	char		 path[512];
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	time_t		 now = time(NULL);
	int		 n = 0;

	if (blob_prepare() != BLOB_OK)
		return 0;
	snprintf(path, sizeof(path), "%s/tmp", conf.storage_dir);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "spool.", 6) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) == -1 ||
		    now - st.st_mtime < BLOB_SPOOL_STALE_S)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}
