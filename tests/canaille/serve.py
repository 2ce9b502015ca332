"""Starts Canaille as an OpenID Provider on 127.0.0.1 for the interoperability tests.

Canaille (PyPI) is a Flask and Authlib identity server, written independently of oidc-provider
(tests/idp) and of django-oauth-toolkit (tests/dot), and used here with its defaults. Everything it
keeps lives in one folder (`CANAILLE_FOLDER`, which the test harness makes and removes, or a fresh
temporary one): the SQLite database, migrated at start. On a new database it creates the users
`alice` and `bob` (password: `correct horse battery staple`) and one public client, `session-keeper`,
registered for the app's default redirect URI with the grants the app uses and nothing else said
(no `id_token_signed_response_alg`). Then it prints one JSON line, `{"issuer", "port"}`, and serves
until killed, on `CANAILLE_PORT` if set (a restart), else on a port the system picks. The signing
keys are Canaille's own defaults, new at every start (an Ed25519 key listed before an RSA one), as an
operator who sets none gets them: a restart is a key rotation.
"""

import datetime
import json
import logging
import os
import sys
import tempfile

from werkzeug.serving import make_server

REDIRECT_URI = "http://127.0.0.1/callback"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1/signed-out"
PASSWORD = "correct horse battery staple"


def populate():
    """On a new database: the two users and the app's client."""
    from canaille.app import models
    from canaille.backends import Backend

    if Backend.instance.get(models.User, user_name="alice"):
        return
    for name in ("alice", "bob"):
        user = models.User(
            user_name=name,
            given_name=name.title(),
            family_name="Example",
            formatted_name=f"{name.title()} Example",
            emails=[f"{name}@example.com"],
        )
        Backend.instance.save(user)
        Backend.instance.set_user_password(user, PASSWORD)
    client = models.Client(
        client_id="session-keeper",
        client_name="Session Keeper",
        client_id_issued_at=datetime.datetime.now(datetime.timezone.utc),
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        scope=["openid", "profile", "email", "offline_access"],
        token_endpoint_auth_method="none",
    )
    Backend.instance.save(client)
    # The client is the audience of its own access tokens, as Canaille's admin pages register one.
    client.audience = [client]
    Backend.instance.save(client)


def main():
    folder = os.environ.get("CANAILLE_FOLDER") or tempfile.mkdtemp(prefix="session-keeper-canaille-")
    app = None

    def application(environ, start_response):
        return app(environ, start_response)

    # Bound before the app is made: the issuer (SERVER_NAME) names the port the system picked.
    server = make_server("127.0.0.1", int(os.environ.get("CANAILLE_PORT", "0")), application, threaded=True)
    port = server.server_port
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from canaille import create_app

    app = create_app(
        config={
            "SECRET_KEY": os.urandom(32).hex(),
            "SERVER_NAME": f"127.0.0.1:{port}",
            "PREFERRED_URL_SCHEME": "http",
            "WTF_CSRF_ENABLED": True,
            "CANAILLE": {"DATABASE": "sql", "JAVASCRIPT": False, "HTMX": False},
            "CANAILLE_SQL": {"DATABASE_URI": "sqlite:///" + os.path.join(folder, "canaille.sqlite"), "AUTO_MIGRATE": True},
        }
    )

    with app.app_context():
        populate()

    print(json.dumps({"issuer": f"http://127.0.0.1:{port}", "port": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
