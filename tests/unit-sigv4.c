/* Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE). */

/*
 * Unit tests of the SigV4 signer (sigv4.c) against published vectors:
 *  - AWS's generic Signature Version 4 test suite (service "service",
 *    20150830T123600Z): get-vanilla, get-vanilla-query-order-key-case,
 *    get-vanilla-query-unreserved, get-header-value-trim, post-vanilla,
 *    post-x-www-form-urlencoded.  These sign host and x-amz-date only,
 *    hence omit_content_sha.  The .creq and .authz files as published
 *    (the post-x-www-form-urlencoded .creq of the 2015 archive lists a
 *    content-length its .authz does not sign; the canonical request
 *    here is the one that gives the published signature).
 *  - The S3 API reference, "Signature Calculations for the Authorization
 *    Header: Transferring Payload in a Single Chunk": GET Object with a
 *    Range, PUT Object with x-amz-storage-class, GET ?lifecycle and
 *    GET ?max-keys=2&prefix=J (examplebucket, 20130524T000000Z).
 *  - Tollgate's own requests (path style, a port, UploadPart with its
 *    query and an x-amz-checksum-sha256 header), computed with botocore
 *    1.29 (Debian's python3-botocore, SigV4Auth/S3SigV4Auth at a fixed
 *    time), which also reproduces every published value above.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tollgate.h"

#define EMPTY_SHA	\
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_HOST	"example.amazonaws.com"
#define SUITE_DATE	"20150830T123600Z"
#define SUITE_CRED	"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/" \
	"us-east-1/service/aws4_request, "
#define S3_HOST		"examplebucket.s3.amazonaws.com"
#define S3_DATE		"20130524T000000Z"
#define S3_CRED		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/" \
	"20130524/us-east-1/s3/aws4_request, "
#define TG_CRED		"AWS4-HMAC-SHA256 Credential=AKIATOLLGATETEST/" \
	"20260301/eu-central-1/s3/aws4_request, "
#define UNRESERVED	"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"abcdefghijklmnopqrstuvwxyz"

struct vector {
	struct sigv4_req	 req;
	const char		*creq;	/* expected canonical request */
	const char		*authz;	/* expected Authorization value */
};

/* The generic suite's request: its credentials, date and host. */
#define SUITE(m, q, p)	{						\
	.method = (m), .path = "/", .query = (q), .host = SUITE_HOST,	\
	.amz_date = SUITE_DATE, .payload_sha256 = (p),			\
	.region = "us-east-1", .service = "service",			\
	.access_key = "AKIDEXAMPLE",					\
	.secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",	\
	.omit_content_sha = 1 }
/* The S3 reference's examples: examplebucket, virtual-hosted. */
#define S3DOC(m, u, q, p)	{					\
	.method = (m), .path = (u), .query = (q), .host = S3_HOST,	\
	.amz_date = S3_DATE, .payload_sha256 = (p),			\
	.region = "us-east-1", .service = "s3",			\
	.access_key = "AKIAIOSFODNN7EXAMPLE",				\
	.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" }
/* Tollgate's requests: path style, another region and key. */
#define TG(m, h, u, q, p)	{					\
	.method = (m), .path = (u), .query = (q), .host = (h),		\
	.amz_date = "20260301T093005Z", .payload_sha256 = (p),		\
	.region = "eu-central-1", .service = "s3",			\
	.access_key = "AKIATOLLGATETEST",				\
	.secret_key = "tollgate/test+secret/key0123456789abcdefgh" }

static const char *const	 trim_headers[] = {
	"My-Header1: value1",
	"my-header2:  \"a   b   c\" ",
};
static const char *const	 form_headers[] = {
	"content-type:application/x-www-form-urlencoded",
};
static const char *const	 range_headers[] = {
	"range:bytes=0-9",
};
static const char *const	 put_headers[] = {
	"date:Fri, 24 May 2013 00:00:00 GMT",
	"x-amz-storage-class:REDUCED_REDUNDANCY",
};
static const char *const	 part_headers[] = {
	"x-amz-checksum-sha256:UXyglsYhnyBONwu+YFz4Y/+qaGk5sJ7de36TM2upFWE=",
};
static const char *const	 put1_headers[] = {
	"x-amz-checksum-sha256:WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM=",
};

static struct vector	 get_vanilla = {
	SUITE("GET", "", EMPTY_SHA),
	"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
	"\nhost;x-amz-date\n" EMPTY_SHA,
	SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
	"5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
};

/* The query as the caller sends it: sorted (Param2=...&Param1=... was). */
static struct vector	 get_query_order_key_case = {
	SUITE("GET", "Param1=value1&Param2=value2", EMPTY_SHA),
	"GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\n"
	"x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA,
	SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
	"b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
};

static struct vector	 get_query_unreserved = {
	SUITE("GET", UNRESERVED "=" UNRESERVED, EMPTY_SHA),
	"GET\n/\n" UNRESERVED "=" UNRESERVED "\nhost:example.amazonaws.com\n"
	"x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA,
	SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
	"9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"
};

/* Names lower-cased, values trimmed and their inner blanks squeezed. */
static struct vector	 get_header_value_trim = {
	SUITE("GET", "", EMPTY_SHA),
	"GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\n"
	"my-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
	"host;my-header1;my-header2;x-amz-date\n" EMPTY_SHA,
	SUITE_CRED "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
	"Signature="
	"acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
};

static struct vector	 post_vanilla = {
	SUITE("POST", NULL, EMPTY_SHA),
	"POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
	"\nhost;x-amz-date\n" EMPTY_SHA,
	SUITE_CRED "SignedHeaders=host;x-amz-date, Signature="
	"5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
};

/* The body "Param1=value1". */
static struct vector	 post_form = {
	SUITE("POST", "",
	    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
	"POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
	"host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
	"content-type;host;x-amz-date\n"
	"9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
	SUITE_CRED "SignedHeaders=content-type;host;x-amz-date, Signature="
	"ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
};

static struct vector	 s3_get_object = {
	S3DOC("GET", "/test.txt", "", EMPTY_SHA),
	"GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
	"range:bytes=0-9\nx-amz-content-sha256:" EMPTY_SHA "\n"
	"x-amz-date:20130524T000000Z\n\n"
	"host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
	S3_CRED "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
	"Signature="
	"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
};

/* The body "Welcome to Amazon S3.", the key "test$file.text". */
static struct vector	 s3_put_object = {
	S3DOC("PUT", "/test%24file.text", "",
	    "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
	"PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\n"
	"host:examplebucket.s3.amazonaws.com\nx-amz-content-sha256:"
	"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
	"x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n"
	"\ndate;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
	"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
	S3_CRED "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;"
	"x-amz-storage-class, Signature="
	"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
};

static struct vector	 s3_get_lifecycle = {
	S3DOC("GET", "/", "lifecycle=", EMPTY_SHA),
	"GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
	"x-amz-content-sha256:" EMPTY_SHA "\nx-amz-date:20130524T000000Z\n\n"
	"host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
	S3_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	"Signature="
	"fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
};

static struct vector	 s3_list_objects = {
	S3DOC("GET", "/", "max-keys=2&prefix=J", EMPTY_SHA),
	"GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
	"x-amz-content-sha256:" EMPTY_SHA "\nx-amz-date:20130524T000000Z\n\n"
	"host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA,
	S3_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	"Signature="
	"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
};

/* A part of 2,300 bytes ("part one of the object\n" 100 times). */
static struct vector	 tg_upload_part = {
	TG("PUT", "127.0.0.1:9000", "/tollgate-test/t1/obj-1",
	    "partNumber=1&uploadId=abc",
	    "517ca096c6219f204e370bbe605cf863ffaa686939b09edd7b7e93336ba91561"),
	"PUT\n/tollgate-test/t1/obj-1\npartNumber=1&uploadId=abc\n"
	"host:127.0.0.1:9000\n"
	"x-amz-checksum-sha256:UXyglsYhnyBONwu+YFz4Y/+qaGk5sJ7de36TM2upFWE=\n"
	"x-amz-content-sha256:"
	"517ca096c6219f204e370bbe605cf863ffaa686939b09edd7b7e93336ba91561\n"
	"x-amz-date:20260301T093005Z\n\n"
	"host;x-amz-checksum-sha256;x-amz-content-sha256;x-amz-date\n"
	"517ca096c6219f204e370bbe605cf863ffaa686939b09edd7b7e93336ba91561",
	TG_CRED "SignedHeaders=host;x-amz-checksum-sha256;"
	"x-amz-content-sha256;x-amz-date, Signature="
	"646b1ca5869cc51bd2db15f672d774d46b7eb4967a337066c5b9a6ca470fb444"
};

/* A single PUT of "hello\n". */
static struct vector	 tg_put = {
	TG("PUT", "127.0.0.1:9000", "/tollgate-test/t1/obj-2", "",
	    "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
	NULL,
	TG_CRED "SignedHeaders=host;x-amz-checksum-sha256;"
	"x-amz-content-sha256;x-amz-date, Signature="
	"89338157cf31addbcf224d4142deed58e4ca62e228243e6a80d50319802eb367"
};

/* CreateMultipartUpload, "?uploads=". */
static struct vector	 tg_create = {
	TG("POST", "s3.example.net", "/tollgate-test/t1/obj-1", "uploads=",
	    EMPTY_SHA),
	NULL,
	TG_CRED "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
	"Signature="
	"e2f77530f8e70a4ef5281d8eb63bec202ee53198e37278510c630e5d08613067"
};

static int
setup_headers(void **state)
{
	get_header_value_trim.req.headers = trim_headers;
	get_header_value_trim.req.nheaders = 2;
	post_form.req.headers = form_headers;
	post_form.req.nheaders = 1;
	s3_get_object.req.headers = range_headers;
	s3_get_object.req.nheaders = 1;
	s3_put_object.req.headers = put_headers;
	s3_put_object.req.nheaders = 2;
	tg_upload_part.req.headers = part_headers;
	tg_upload_part.req.nheaders = 1;
	tg_put.req.headers = put1_headers;
	tg_put.req.nheaders = 1;
	return 0;
}

static void
test_vector(void **state)
{
	const struct vector	*v = *state;
	char			 buf[2048];

	if (v->creq != NULL) {
		assert_int_equal(sigv4_canonical(&v->req, buf, sizeof(buf)), 0);
		assert_string_equal(buf, v->creq);
	}
	assert_int_equal(sigv4_authorization(&v->req, buf, sizeof(buf)), 0);
	assert_string_equal(buf, v->authz);
}

/* Exactly enough room works; one byte less is -1, never a cut string. */
static void
test_too_small(void **state)
{
	const struct sigv4_req	*s = &s3_put_object.req;
	char			 buf[2048];
	size_t			 clen, alen;

	assert_int_equal(sigv4_canonical(s, buf, sizeof(buf)), 0);
	clen = strlen(buf);
	assert_int_equal(sigv4_authorization(s, buf, sizeof(buf)), 0);
	alen = strlen(buf);

	assert_int_equal(sigv4_canonical(s, buf, clen + 1), 0);
	assert_int_equal(strlen(buf), clen);
	assert_int_equal(sigv4_canonical(s, buf, clen), -1);
	assert_string_equal(buf, "");
	assert_int_equal(sigv4_canonical(s, buf, 0), -1);

	assert_int_equal(sigv4_authorization(s, buf, alen + 1), 0);
	assert_int_equal(strlen(buf), alen);
	assert_int_equal(sigv4_authorization(s, buf, alen), -1);
	assert_string_equal(buf, "");
	assert_int_equal(sigv4_authorization(s, buf, 10), -1);
}

/* Requests that cannot be signed: the caller gets -1, not a guess. */
static void
test_refused(void **state)
{
	static const char *const	 bad[] = { "no-colon" };
	static const char *const	 dup[] = { "x-amz-date:1" };
	static const char *const	 many[] = {
		"a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1",
		"i:1", "j:1", "k:1", "l:1", "m:1", "n:1",
	};
	struct sigv4_req		 s = s3_list_objects.req;
	char				 buf[2048];

	s.amz_date = "2013-05-24T00:00";
	assert_int_equal(sigv4_authorization(&s, buf, sizeof(buf)), -1);
	s = s3_list_objects.req;
	s.payload_sha256 = NULL;
	assert_int_equal(sigv4_canonical(&s, buf, sizeof(buf)), -1);
	s = s3_list_objects.req;
	s.headers = bad;
	s.nheaders = 1;
	assert_int_equal(sigv4_canonical(&s, buf, sizeof(buf)), -1);
	s.headers = dup;
	assert_int_equal(sigv4_authorization(&s, buf, sizeof(buf)), -1);
	/* Three of ours and thirteen more fit; fourteen do not. */
	s.headers = many;
	s.nheaders = 13;
	assert_int_equal(sigv4_authorization(&s, buf, sizeof(buf)), 0);
	s.nheaders = 14;
	assert_int_equal(sigv4_authorization(&s, buf, sizeof(buf)), -1);
}

/* Any change to what is signed changes the signature. */
static void
test_sensitivity(void **state)
{
	struct sigv4_req	 s = tg_create.req;
	char			 a[512], b[512];

	assert_int_equal(sigv4_authorization(&s, a, sizeof(a)), 0);
	s.host = "s3.example.net:443";
	assert_int_equal(sigv4_authorization(&s, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	s = tg_create.req;
	s.secret_key = "another secret";
	assert_int_equal(sigv4_authorization(&s, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	s = tg_create.req;
	s.amz_date = "20260301T093006Z";
	assert_int_equal(sigv4_authorization(&s, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

#define VECTOR(name, v)	{ (name), test_vector, NULL, NULL, &(v) }

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		VECTOR("get-vanilla", get_vanilla),
		VECTOR("get-vanilla-query-order-key-case",
		    get_query_order_key_case),
		VECTOR("get-vanilla-query-unreserved", get_query_unreserved),
		VECTOR("get-header-value-trim", get_header_value_trim),
		VECTOR("post-vanilla", post_vanilla),
		VECTOR("post-x-www-form-urlencoded", post_form),
		VECTOR("s3-get-object", s3_get_object),
		VECTOR("s3-put-object", s3_put_object),
		VECTOR("s3-get-bucket-lifecycle", s3_get_lifecycle),
		VECTOR("s3-list-objects", s3_list_objects),
		VECTOR("tollgate-upload-part", tg_upload_part),
		VECTOR("tollgate-put", tg_put),
		VECTOR("tollgate-create-multipart", tg_create),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_sensitivity),
	};

	return cmocka_run_group_tests_name("unit-sigv4", tests, setup_headers,
	    NULL);
}
