"""Sends hand-made API requests to Kiln, signed (or not) with botocore's SigV4 signer.

Reads a JSON object from stdin: {"endpoint": URL, "requests": [REQUEST, ...]} where each REQUEST has
  target            X-Amz-Target header value, or null to leave it out
  body_file         path of the raw body to send
  access_key, secret  credentials, or null to send the request unsigned
  service, region   the credential scope to sign with
  skew_seconds      how far the signer's clock is from the real one
  headers           extra headers, added before signing
Prints a JSON list of {"status", "headers" (lower-cased names), "body"}: one per request.
"""

import datetime
import json
import sys
import urllib.error
import urllib.request

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

real_now = botocore.auth.get_current_datetime


def send(endpoint, spec):
    with open(spec["body_file"], "rb") as f:
        body = f.read()
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if spec.get("target") is not None:
        headers["X-Amz-Target"] = spec["target"]
    headers.update(spec.get("headers") or {})
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    if spec.get("access_key") is not None:
        skew = datetime.timedelta(seconds=spec.get("skew_seconds") or 0)
        botocore.auth.get_current_datetime = lambda *a, **k: real_now(*a, **k) + skew
        try:
            credentials = Credentials(spec["access_key"], spec["secret"])
            botocore.auth.SigV4Auth(credentials, spec["service"], spec["region"]).add_auth(request)
        finally:
            botocore.auth.get_current_datetime = real_now
    prepared = request.prepare()
    raw = urllib.request.Request(
        prepared.url, data=body, headers=dict(prepared.headers.items()), method="POST"
    )
    try:
        with urllib.request.urlopen(raw, timeout=30) as response:
            status, reply_headers, reply = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, reply_headers, reply = error.code, error.headers, error.read()
    return {
        "status": status,
        "headers": {k.lower(): v for k, v in reply_headers.items()},
        "body": reply.decode("utf-8", "replace"),
    }


def main():
    job = json.load(sys.stdin)
    print(json.dumps([send(job["endpoint"], spec) for spec in job["requests"]]))


main()
