"""A tiny OpenID Connect provider for the browser tests of sign-in, on a free 127.0.0.1 port.

It speaks the authorisation code flow the way Streamlit's ``st.login`` (Authlib) uses it:
discovery, ``/authorize`` (no login form: it sends the browser straight back with a code, signed
in as :attr:`FakeOIDCProvider.next_email`), ``/token`` (client secret, redirect URI, PKCE and a
single use per code checked; an RS256 ID token signed with a key made at start), ``/jwks`` and
``/userinfo``. Anything it refuses is kept in :attr:`FakeOIDCProvider.errors` so a test can say
why a sign-in did not complete.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CODE_LIFETIME_S = 60
TOKEN_LIFETIME_S = 3600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint_b64url(number: int) -> str:
    return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class _Grant:
    """What one authorisation code stands for."""

    email: str
    name: str
    nonce: str | None
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    issued: float


class FakeOIDCProvider:
    """An OIDC provider in a thread: ``with FakeOIDCProvider("id", "secret") as provider:``."""

    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.next_email = "someone@example.gov.uk"  # who the next /authorize signs in
        self.next_name: str | None = None  # their display name (None: made from the address)
        self.signed_in: list[str] = []  # e-mail of every ID token issued, in order
        self.errors: list[str] = []  # every request refused, with the reason
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- running -----------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The provider's base URL, which is also its issuer."""
        if self._server is None:
            raise RuntimeError("the provider is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def metadata_url(self) -> str:
        """The discovery document's URL (``server_metadata_url`` in Streamlit's secrets)."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> FakeOIDCProvider:
        """Serve on a free 127.0.0.1 port in a daemon thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-oidc",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeOIDCProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- documents ---------------------------------------------------------------------------

    def discovery(self) -> dict:
        """The OpenID Provider Metadata (OpenID Connect Discovery 1.0, section 3)."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "userinfo_endpoint": f"{base}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "grant_types_supported": ["authorization_code"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "email",
                                 "email_verified", "name"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict:
        """The public half of the signing key as a JSON Web Key Set."""
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._kid,
                          "n": _uint_b64url(numbers.n), "e": _uint_b64url(numbers.e)}]}

    def _sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": self._kid}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(),
                                   hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    # --- endpoints ---------------------------------------------------------------------------

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """``GET /authorize``: straight back to the client with a code for ``next_email``."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith("http"):
            return self._refuse(400, f"authorize: unknown client or redirect_uri {query}")
        back = {"state": query["state"]} if "state" in query else {}
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            self.errors.append(f"authorize: not an OIDC code request: {query}")
            back["error"] = "unsupported_response_type"
        elif query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            self.errors.append(f"authorize: PKCE method {query.get('code_challenge_method')}")
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(24)
            email = self.next_email
            with self._lock:
                self._codes[code] = _Grant(
                    email=email, name=self.next_name or email.split("@")[0].title(),
                    nonce=query.get("nonce"), redirect_uri=redirect_uri,
                    code_challenge=query.get("code_challenge"),
                    code_challenge_method=query.get("code_challenge_method"),
                    issued=time.time())
            back["code"] = code
        joiner = "&" if urllib.parse.urlsplit(redirect_uri).query else "?"
        return 302, {"Location": redirect_uri + joiner + urllib.parse.urlencode(back)}, b""

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict, bytes]:
        """``POST /token``: an authorisation code for an access token and an ID token."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            decoded = base64.b64decode(authorization.split(None, 1)[1]).decode()
            client_id, _, client_secret = decoded.partition(":")
            client_id = urllib.parse.unquote_plus(client_id)
            client_secret = urllib.parse.unquote_plus(client_secret)
        if client_id != self.client_id or client_secret != self.client_secret:
            return self._json_error(401, "invalid_client", f"token: bad client {client_id!r}")
        if form.get("grant_type") != "authorization_code":
            return self._json_error(400, "unsupported_grant_type",
                                    f"token: grant_type {form.get('grant_type')!r}")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None or time.time() - grant.issued > CODE_LIFETIME_S:
            return self._json_error(400, "invalid_grant", "token: unknown, used or old code")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._json_error(400, "invalid_grant",
                                    f"token: redirect_uri {form.get('redirect_uri')!r} differs")
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.code_challenge:
                return self._json_error(400, "invalid_grant", "token: PKCE verifier mismatch")
        now = int(time.time())
        access_token = secrets.token_urlsafe(32)
        claims = {
            "iss": self.issuer, "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:24],
            "aud": self.client_id, "exp": now + TOKEN_LIFETIME_S, "iat": now,
            "email": grant.email, "email_verified": True, "name": grant.name,
            "at_hash": _b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        with self._lock:
            self._access_tokens[access_token] = claims
            self.signed_in.append(grant.email)
        body = {"access_token": access_token, "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S, "scope": "openid email profile",
                "id_token": self._sign(claims)}
        return 200, {"Cache-Control": "no-store"}, json.dumps(body).encode()

    def userinfo(self, authorization: str | None) -> tuple[int, dict, bytes]:
        """``GET /userinfo`` with the access token as a bearer token."""
        token = (authorization or "").partition(" ")[2]
        claims = self._access_tokens.get(token)
        if not (authorization or "").lower().startswith("bearer ") or claims is None:
            return self._json_error(401, "invalid_token", "userinfo: unknown access token")
        keep = ("sub", "email", "email_verified", "name")
        return 200, {}, json.dumps({k: claims[k] for k in keep}).encode()

    def _refuse(self, status: int, reason: str) -> tuple[int, dict, bytes]:
        self.errors.append(reason)
        return status, {"Content-Type": "text/plain"}, reason.encode()

    def _json_error(self, status: int, error: str, reason: str) -> tuple[int, dict, bytes]:
        self.errors.append(reason)
        return status, {}, json.dumps({"error": error, "error_description": reason}).encode()


def _handler_for(provider: FakeOIDCProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            headers = {"Content-Type": "application/json", **headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/.well-known/openid-configuration":
                self._send(200, {}, json.dumps(provider.discovery()).encode())
            elif url.path == "/jwks":
                self._send(200, {}, json.dumps(provider.jwks()).encode())
            elif url.path == "/authorize":
                self._send(*provider.authorize(query))
            elif url.path == "/userinfo":
                self._send(*provider.userinfo(self.headers.get("Authorization")))
            else:
                self._send(*provider._refuse(404, f"GET {url.path}: no such endpoint"))

        def do_POST(self) -> None:  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if url.path == "/token":
                self._send(*provider.token(form, self.headers.get("Authorization")))
            else:
                self._send(*provider._refuse(404, f"POST {url.path}: no such endpoint"))

        def log_message(self, format, *args) -> None:  # noqa: A002 (quiet test output)
            pass

    return Handler
