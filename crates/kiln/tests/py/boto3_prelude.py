"""Run before every boto3 test script: sets up clients for the Kiln under test.

Defines
  client       boto3 CodeBuild client, as a user has it (client-side parameter validation on)
  raw_client   the same without client-side validation, to reach the server with values
               botocore itself would refuse
  error_of(call, **params)  -> {"code", "message", "status"} of the ClientError the call raises,
               or None when it succeeds
  result       what the script leaves here is printed as JSON on the last line of stdout
"""

import json
import os

import boto3
import botocore.exceptions
from botocore.config import Config


def _client(validate):
    return boto3.client(
        "codebuild",
        endpoint_url=os.environ["KILN_TEST_ENDPOINT"],
        region_name=os.environ["KILN_TEST_REGION"],
        aws_access_key_id=os.environ["KILN_TEST_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["KILN_TEST_SECRET_ACCESS_KEY"],
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            parameter_validation=validate,
            connect_timeout=5,
            read_timeout=30,
        ),
    )


client = _client(True)
raw_client = _client(False)


def error_of(call, **params):
    try:
        call(**params)
    except botocore.exceptions.ClientError as e:
        return {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"]["Message"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return None


result = None
