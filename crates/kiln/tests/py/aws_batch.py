"""Runs several aws CLI commands in one python3 process, each through the CLI's own driver.

The aws CLI spends most of its time starting up; this pays that once for a table of commands.
Each command gets a fresh driver and session, so no state carries over between them; only the
loader of botocore's static model files is shared, as parsing them is the slow part. Reads a JSON list of
argument lists from stdin; prints a JSON list of {"rc", "stdout", "stderr"}.
"""

import contextlib
import io
import json
import sys

from awscli.clidriver import create_clidriver


shared_loader = None


def run(args):
    global shared_loader
    out, err = io.StringIO(), io.StringIO()
    driver = create_clidriver()
    if shared_loader is None:
        shared_loader = driver.session.get_component("data_loader")
    else:
        driver.session.register_component("data_loader", shared_loader)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = driver.main(args)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main():
    commands = json.load(sys.stdin)
    results = [run(args) for args in commands]
    sys.stdout.write(json.dumps(results))


main()
