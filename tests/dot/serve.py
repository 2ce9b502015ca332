"""Starts django-oauth-toolkit as an OpenID Provider on 127.0.0.1 for the interoperability tests.

Everything it keeps lives in one folder (`DOT_FOLDER`, which the test harness makes and removes, or
a fresh temporary one): the SQLite database, migrated at start. It
creates the users `alice` and `bob` (password: `password`) and one public client, `session-keeper`,
registered for the app's default redirect URI, then prints one JSON line, `{"issuer", "port"}`, and
serves until killed. The signing key is made at start, as an operator's would be once.
"""

import json
import os
import socketserver
import sys
import tempfile
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

HERE = os.path.dirname(os.path.abspath(__file__))
REDIRECT_URI = "http://127.0.0.1/callback"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1/signed-out"


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        sys.stderr.write("%s\n" % (format % args))


def main():
    folder = os.environ.get("DOT_FOLDER") or tempfile.mkdtemp(prefix="session-keeper-dot-")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="settings",
        DOT_SECRET_KEY=os.urandom(32).hex(),
        DOT_DATABASE=os.path.join(folder, "db.sqlite3"),
        DOT_RSA_PRIVATE_KEY=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
    )
    sys.path.insert(0, HERE)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from django.contrib.auth.models import User
    from oauth2_provider.models import get_application_model

    for name in ("alice", "bob"):
        User.objects.create_user(name, email=f"{name}@example.com", password="password", first_name=name.title())
    Application = get_application_model()
    Application.objects.create(
        name="Session Keeper",
        client_id="session-keeper",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        post_logout_redirect_uris=POST_LOGOUT_REDIRECT_URI,
        algorithm=Application.RS256_ALGORITHM,
    )

    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", int(os.environ.get("DOT_PORT", "0")), get_wsgi_application(), Server, QuietHandler)
    port = server.server_address[1]
    print(json.dumps({"issuer": f"http://127.0.0.1:{port}/o", "port": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
