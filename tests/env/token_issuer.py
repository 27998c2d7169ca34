"""A small Docker registry token issuer for the test registry on 127.0.0.1:5002.

It speaks the token protocol that Docker Hub and most registries use, so podpy's bearer-auth code is
tested against a real ``docker-registry`` that really validates the tokens:

* ``GET /token?service=S&scope=repository:NAME:pull,push`` (scope may repeat), optional Basic auth.
  ``POST /token`` with an OAuth2 form (``grant_type=password`` + username/password) works too.
  Anonymous users get ``pull`` on ``public/*`` only; ``testuser:testpass`` get everything they ask for.
  Wrong credentials answer 401. The answer is ``{"token", "access_token", "expires_in", "issued_at"}``.
* ``GET /stats`` -> ``{"requests": N, "by_scope": {scope: n}, "by_user": {user: n}, "failures": n}``
  so tests can check that a client reuses its token instead of asking again.
* ``POST /stats/reset`` zeroes the counters.

The JWT is RS256-signed with the test key and carries the certificate in ``x5c``; the registry checks
that chain against its ``rootcertbundle`` (distribution registry/auth/token). ``--generate-key`` writes
a fresh key and self-signed certificate (used once by tests/env/setup.sh).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import secrets
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ISSUER = "podpy-test-issuer"
SERVICE = "podpy-test-registry"
USERS = {"testuser": "testpass"}
ALL_ACTIONS = {"pull", "push", "delete", "*"}
TOKEN_LIFETIME = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_key(key_path: str, cert_path: str) -> None:
    """Write an RSA key and a self-signed CA certificate for it (PEM)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "podpy test token issuer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for path, data in ((key_path, pem), (cert_path, cert.public_bytes(serialization.Encoding.PEM))):
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)


class Issuer:
    """Signs tokens and keeps the request counters."""

    def __init__(self, key_path: str, cert_path: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        with open(key_path, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0
            self.failures = 0
            self.by_scope: Counter[str] = Counter()
            self.by_user: Counter[str] = Counter()

    def stats(self) -> dict[str, object]:
        with self.lock:
            return {
                "requests": self.requests,
                "failures": self.failures,
                "by_scope": dict(self.by_scope),
                "by_user": dict(self.by_user),
            }

    def count(self, user: str, scopes: list[str], ok: bool) -> None:
        with self.lock:
            self.requests += 1
            self.failures += 0 if ok else 1
            self.by_user[user or "<anonymous>"] += 1
            for s in scopes or ["<none>"]:
                self.by_scope[s] += 1

    def grant(self, user: str, scope: str) -> dict[str, object] | None:
        """The access entry for one requested scope, or None when nothing of it is allowed."""
        parts = scope.split(":")
        if len(parts) < 3:
            return None
        rtype, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
        if user:
            allowed = [a for a in actions if a in ALL_ACTIONS]
        elif rtype == "repository" and name.startswith("public/"):
            allowed = [a for a in actions if a == "pull"]
        else:
            allowed = []
        return {"type": rtype, "name": name, "actions": allowed}

    def sign(self, user: str, service: str, access: list[dict[str, object]]) -> dict[str, object]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        claims = {
            "iss": ISSUER,
            "sub": user,
            "aud": service,
            "exp": now + TOKEN_LIFETIME,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
        token = f"{signing_input}.{b64url(sig)}"
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "access_token": token, "expires_in": TOKEN_LIFETIME, "issued_at": issued}


def make_handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stderr.write("token-issuer: " + (fmt % args) + "\n")

        def reply(self, code: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def basic_user(self) -> tuple[str, bool]:
            """(user, ok): ("", True) when anonymous; ok False when credentials are wrong."""
            auth = self.headers.get("Authorization", "")
            if not auth.lower().startswith("basic "):
                return "", True
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "", False
            return user, USERS.get(user) == password

        def issue(self, user: str, ok: bool, params: dict[str, list[str]]) -> None:
            scopes = [s for value in params.get("scope", []) for s in value.split(" ") if s]
            issuer.count(user, scopes, ok)
            if not ok:
                self.reply(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "invalid username or password"}]},
                    {"WWW-Authenticate": 'Basic realm="podpy-test-issuer"'},
                )
                return
            service = (params.get("service") or [SERVICE])[0]
            access = [g for g in (issuer.grant(user, s) for s in scopes) if g is not None]
            self.reply(200, issuer.sign(user, service, access))

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            url = urlsplit(self.path)
            if url.path == "/stats":
                self.reply(200, issuer.stats())
            elif url.path == "/token":
                user, ok = self.basic_user()
                self.issue(user, ok, parse_qs(url.query))
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            if url.path == "/stats/reset":
                issuer.reset()
                self.reply(200, issuer.stats())
            elif url.path == "/token":
                form = parse_qs(body)
                user, ok = self.basic_user()
                if (form.get("grant_type") or [""])[0] == "password":
                    user = (form.get("username") or [""])[0]
                    ok = USERS.get(user) == (form.get("password") or [""])[0]
                self.issue(user, ok, form)
            else:
                self.reply(404, {"error": "not found"})

    return Handler


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5003)
    p.add_argument("--key", help="PEM private key to sign with")
    p.add_argument("--cert", required=True, help="PEM certificate of the key (the registry's rootcertbundle)")
    p.add_argument(
        "--generate-key", metavar="KEY", help="write a new key to KEY and its cert to --cert, then exit"
    )
    a = p.parse_args(argv)
    if a.generate_key:
        generate_key(a.generate_key, a.cert)
        return
    if not a.key:
        p.error("--key is required")
    server = ThreadingHTTPServer((a.host, a.port), make_handler(Issuer(a.key, a.cert)))
    server.daemon_threads = True
    sys.stderr.write(f"token-issuer: listening on http://{a.host}:{a.port}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
