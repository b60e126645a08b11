"""A private git server for tests: `git http-backend` behind HTTP basic auth.

Usage: git_http_server.py REPOS_ROOT   (password in KILN_TEST_GIT_PASSWORD)
Prints `port N` once listening on 127.0.0.1. Requests without the password get 401 with a
Basic challenge, so git asks its askpass program for credentials. Every request is appended to
REPOS_ROOT/requests.log as `METHOD PATH Authorization-header-or-"-"`.

Optional: KILN_TEST_TLS_CERT and KILN_TEST_TLS_KEY (PEM files) serve https; with
KILN_TEST_REDIRECT_TO=<base URL>, authorized requests are redirected (302) there.
"""

import base64
import os
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = sys.argv[1]
PASSWORD = os.environ["KILN_TEST_GIT_PASSWORD"]
REDIRECT_TO = os.environ.get("KILN_TEST_REDIRECT_TO")
REQUEST_LOG = os.path.join(ROOT, "requests.log")
LOG_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def authorized(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if password == PASSWORD else None

    def record(self):
        line = f"{self.command} {self.path} {self.headers.get('Authorization', '-')}\n"
        with LOG_LOCK, open(REQUEST_LOG, "a") as log:
            log.write(line)

    def handle_any(self):
        self.record()
        user = self.authorized()
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="kiln-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if REDIRECT_TO:
            self.send_response(302)
            self.send_header("Location", REDIRECT_TO + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = handle_any
    do_POST = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if os.environ.get("KILN_TEST_TLS_CERT"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.environ["KILN_TEST_TLS_CERT"], os.environ["KILN_TEST_TLS_KEY"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
