#!/usr/bin/env python3
"""Times Kiln's API calls for bench/scale.sh: one keep-alive HTTP connection, each request signed
(SigV4, botocore) before its clock starts, so a sample is the request's round trip alone.

Usage:
  scale_client.py calls URL SEEDED_JSON SAMPLES   all the API calls; prints JSON {call: [ms…]}
  scale_client.py badge URL TOKEN                 one badge request on a fresh connection; ms
"""

import http.client
import json
import statistics
import sys
import time
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDENTIALS = Credentials("AKIDKILNBENCH0000001", "kilnBenchSecret000000000000000000000000001")
DEEP_PAGE = 500
WARM_UP = 10


class Api:
    def __init__(self, url):
        self.url = url.rstrip("/") + "/"
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port)
        self.signer = SigV4Auth(CREDENTIALS, "codebuild", "us-east-1")

    def call(self, operation, body):
        """The answer and the milliseconds from sending the request to reading the answer."""
        data = json.dumps(body).encode()
        request = AWSRequest(
            method="POST", url=self.url, data=data,
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": f"CodeBuild_20161006.{operation}"},
        )
        self.signer.add_auth(request)
        headers = dict(request.headers.items())
        started = time.perf_counter()
        self.conn.request("POST", "/", data, headers)
        response = self.conn.getresponse()
        answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            sys.exit(f"{operation} {body}: HTTP {response.status} {answer[:300]!r}")
        return json.loads(answer), elapsed


def repeat(samples, sample):
    for _ in range(WARM_UP):
        sample()
    return [sample() for _ in range(samples)]


def deep_token(api, operation, body):
    """The nextToken of page DEEP_PAGE - 1, walked page by page (or of the last page, when there
    are fewer pages), the page number it asks for, and the walk's time per page."""
    token, page, walk = None, 1, []
    while page < DEEP_PAGE:
        answer, ms = api.call(operation, dict(body, **({"nextToken": token} if token else {})))
        walk.append(ms)
        if "nextToken" not in answer:
            break
        token, page = answer["nextToken"], page + 1
    return token, page, walk


def calls(url, seeded, samples):
    api = Api(url)
    ids = seeded["samples"]
    big = {"projectName": seeded["big"]}
    results, notes = {}, {}
    turn = iter(range(1 << 62))
    results["BatchGetBuilds 1 id"] = repeat(
        samples, lambda: api.call("BatchGetBuilds", {"ids": [ids[next(turn) % len(ids)]]})[1])

    def hundred():
        start = next(turn) * 100
        chunk = [ids[(start + n) % len(ids)] for n in range(100)]
        answer, ms = api.call("BatchGetBuilds", {"ids": chunk})
        assert len(answer["builds"]) == 100, answer.get("buildsNotFound")
        return ms
    results["BatchGetBuilds 100 ids"] = repeat(samples, hundred)

    for operation, body, label in (
        ("ListBuildsForProject", big, "ListBuildsForProject (big)"),
        ("ListBuilds", {}, "ListBuilds"),
    ):
        results[f"{label} page 1"] = repeat(samples, lambda: api.call(operation, body)[1])
        token, page, walk = deep_token(api, operation, body)
        notes[f"{label} deep page"] = {"page": page, "walk_ms_total": round(sum(walk), 1),
                                       "walk_ms_p50": round(statistics.median(walk), 3)}
        deep = dict(body, **({"nextToken": token} if token else {}))
        results[f"{label} page {DEEP_PAGE}"] = repeat(samples, lambda: api.call(operation, deep)[1])
    small = {"projectName": seeded["small"]}
    results["ListBuildsForProject (small) page 1"] = repeat(
        samples, lambda: api.call("ListBuildsForProject", small)[1])
    print(json.dumps({"samples_ms": results, "notes": notes}))


def badge(url, token):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    conn.connect()
    started = time.perf_counter()
    conn.request("GET", f"/badges?uuid={token}")
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200 or b"<svg" not in body:
        sys.exit(f"badge: HTTP {response.status} {body[:200]!r}")
    # The big project's latest build of its default branch: a known status, not "unknown".
    if b"unknown" in body.lower():
        sys.exit(f"badge shows no status: {body[:300]!r}")
    print(f"{elapsed:.3f}")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "calls":
        with open(sys.argv[3]) as f:
            calls(sys.argv[2], json.load(f), int(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "badge":
        badge(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
