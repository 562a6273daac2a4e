#!/usr/bin/env python3
# Copyright (c) 2026 The Tollgate developers.  ISC licence (see LICENSE).
"""bench/storage-records.py: the live records of one storage table of the
bench's storage tenant, counted or deleted, through the API (Python 3
standard library).  bench/run calls it after each run of POST
/api/v1/storage/records: "count" checks what the run stored against the
answers wrk read, "delete" gives the bytes back to the quota.

    storage-records.py count URL TABLE
    storage-records.py delete URL TABLE

The platform key and the tenant it acts for come from the environment
(BENCH_PLATFORM_KEY, BENCH_TENANT_ID), never from the command line.  The
records are listed with GET /api/v1/storage/records?table=&since=&limit=
(changes, oldest first, 1,000 a page; a deleted record is a change too,
and is skipped); "delete" then sends DELETE /api/v1/storage/records/{id}
over 4 keep-alive connections.  Prints one line:

    count: live N bytes N
    delete: deleted N missing N failed N seconds S

"missing" are 404s (already gone); "failed" any other answer, which also
makes the exit status 1.
"""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

CONNS = 4


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)


def headers():
    return {"Authorization": "Bearer " + os.environ["BENCH_PLATFORM_KEY"]}


def live_records(url, table):
    tenant = os.environ["BENCH_TENANT_ID"]
    conn = connect(url)
    since = 0
    out = []
    while True:
        q = urllib.parse.urlencode({"table": table, "since": since,
                                    "limit": 1000, "tenant_id": tenant})
        conn.request("GET", "/api/v1/storage/records?" + q,
                     headers=headers())
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit("storage-records: GET /api/v1/storage/records "
                     "answered %d: %s" % (resp.status, body[:300]))
        page = json.loads(body)
        for r in page["data"]:
            if not r["deleted"]:
                out.append(r)
        if not page["has_more"] or page["next_since"] == since:
            break
        since = page["next_since"]
    conn.close()
    return out


def delete_all(url, records):
    tenant = os.environ["BENCH_TENANT_ID"]
    counts = {"deleted": 0, "missing": 0, "failed": 0}
    lock = threading.Lock()
    first_failure = []

    def worker(part):
        conn = connect(url)
        mine = {"deleted": 0, "missing": 0, "failed": 0}
        for r in part:
            conn.request("DELETE", "/api/v1/storage/records/%s?tenant_id=%s"
                         % (r["id"], tenant), headers=headers())
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 204:
                mine["deleted"] += 1
            elif resp.status == 404:
                mine["missing"] += 1
            else:
                mine["failed"] += 1
                with lock:
                    if not first_failure:
                        first_failure.append("%d %s" % (resp.status,
                                                        body[:300]))
        conn.close()
        with lock:
            for k in counts:
                counts[k] += mine[k]

    threads = [threading.Thread(target=worker, args=(records[i::CONNS],))
               for i in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if first_failure:
        print("storage-records: DELETE answered %s" % first_failure[0],
              file=sys.stderr)
    return counts


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("count", "delete"):
        sys.exit("usage: storage-records.py count|delete URL TABLE")
    cmd, url, table = sys.argv[1:]
    start = time.monotonic()
    records = live_records(url, table)
    if cmd == "count":
        print("count: live %d bytes %d"
              % (len(records), sum(r["size"] for r in records)))
        return 0
    c = delete_all(url, records)
    print("delete: deleted %d missing %d failed %d seconds %.1f"
          % (c["deleted"], c["missing"], c["failed"],
             time.monotonic() - start))
    return 1 if c["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
