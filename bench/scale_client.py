#!/usr/bin/env python3
"""Times Kiln's API calls for bench/scale.sh: one keep-alive HTTP connection, each request signed
(SigV4, botocore) before its clock starts, so a sample is the request's round trip alone.

Usage:
  scale_client.py calls SMALL_URL SMALL_SEEDED LARGE_URL LARGE_SEEDED SAMPLES
      all the API calls on both stores, alternating; prints JSON {store: {call: [ms…]}}
  scale_client.py badge URL WARM_TOKEN TOKEN      TOKEN's badge, uncached, after WARM_TOKEN's; ms
"""

import http.client
import json
import random
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


def deep_token(api, operation, body):
    """The token of page DEEP_PAGE, walked page by page, the page number, and the walk's time
    per page. A store with fewer pages uses its last full page (a page of 100 ids, as deep pages
    of the large store are)."""
    token, page, walk = None, 1, []
    full = (None, 1)
    while page <= DEEP_PAGE:
        answer, ms = api.call(operation, dict(body, **({"nextToken": token} if token else {})))
        walk.append(ms)
        if len(answer["ids"]) == 100:
            full = (token, page)
        if page == DEEP_PAGE or "nextToken" not in answer:
            break
        token, page = answer["nextToken"], page + 1
    return full[0], full[1], walk


def store_calls(url, seeded, notes):
    """The timed calls on one store, each a function returning one sample's milliseconds."""
    api = Api(url)
    ids = seeded["samples"]
    turn = iter(range(1 << 62))

    def one():
        return api.call("BatchGetBuilds", {"ids": [ids[next(turn) % len(ids)]]})[1]

    def hundred():
        start = next(turn) * 100
        chunk = [ids[(start + n) % len(ids)] for n in range(100)]
        answer, ms = api.call("BatchGetBuilds", {"ids": chunk})
        assert len(answer["builds"]) == 100, answer.get("buildsNotFound")
        return ms

    def page(operation, body):
        return lambda: api.call(operation, body)[1]

    calls = {"BatchGetBuilds 1 id": one, "BatchGetBuilds 100 ids": hundred}
    big = {"projectName": seeded["big"]}
    for operation, body, label in (
        ("ListBuildsForProject", big, "ListBuildsForProject (big)"),
        ("ListBuilds", {}, "ListBuilds"),
    ):
        calls[f"{label} page 1"] = page(operation, body)
        token, number, walk = deep_token(api, operation, body)
        notes[f"{label} deep page"] = {"page": number, "walk_ms_total": round(sum(walk), 1),
                                       "walk_ms_p50": round(statistics.median(walk), 3)}
        calls[f"{label} page {DEEP_PAGE}"] = page(
            operation, dict(body, **({"nextToken": token} if token else {})))
    calls["ListBuildsForProject (small) page 1"] = page(
        "ListBuildsForProject", {"projectName": seeded["small"]})
    return calls


def calls(stores, samples):
    """Round after round, each call once on each store in turn, so that whatever else loads the
    machine weighs on both stores' samples alike. Each round shuffles the calls and which store
    goes first: a call that follows a big answer (BatchGetBuilds of 100) runs while the machine
    still finishes that one, and this spreads the cost over all calls and both stores."""
    notes = {name: {} for name in stores}
    timed = {name: store_calls(url, seeded, notes[name]) for name, (url, seeded) in stores.items()}
    results = {name: {call: [] for call in timed[name]} for name in stores}
    shuffle = random.Random(12)
    names, call_names = list(stores), list(results[next(iter(stores))])
    for round_number in range(WARM_UP + samples):
        shuffle.shuffle(call_names)
        for call in call_names:
            shuffle.shuffle(names)
            for name in names:
                ms = timed[name][call]()
                if round_number >= WARM_UP:
                    results[name][call].append(ms)
    print(json.dumps({"samples_ms": results, "notes": notes}))


def badge(url, warm_token, token):
    """One badge request for `token`, on a Kiln that has just served `warm_token`'s badge (so
    the process, its threads and its store connections are warm, and only `token`'s badge is
    not cached)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    timings = []
    for badge_token in (warm_token, token):
        started = time.perf_counter()
        conn.request("GET", f"/badges?uuid={badge_token}")
        response = conn.getresponse()
        body = response.read()
        timings.append((time.perf_counter() - started) * 1000)
        if response.status != 200 or b"<svg" not in body:
            sys.exit(f"badge: HTTP {response.status} {body[:200]!r}")
        # The latest build of the project's default branch: a known status, not "unknown".
        if b"unknown" in body.lower():
            sys.exit(f"badge shows no status: {body[:300]!r}")
    print(f"{timings[1]:.3f}")


def main():
    if len(sys.argv) == 7 and sys.argv[1] == "calls":
        stores = {}
        for name, url, seeded in (("small", *sys.argv[2:4]), ("large", *sys.argv[4:6])):
            with open(seeded) as f:
                stores[name] = (url, json.load(f))
        calls(stores, int(sys.argv[6]))
    elif len(sys.argv) == 5 and sys.argv[1] == "badge":
        badge(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
