"""Django settings for the second test provider: django-oauth-toolkit (tests/dot).

An OpenID Provider written independently of oidc-provider (tests/idp), installed from PyPI and used
with its defaults. Only what its documentation says an OpenID Connect deployment must set is set here:
OIDC on, an RSA signing key (without one it signs ID tokens with HS256 and a client secret, which a
public client cannot check), the OIDC scopes, and the metadata URLs at the server root. Everything
else is the toolkit's default: refresh-token rotation on, PKCE required, exact redirect-URI matching
(no loopback port freedom), 10-hour access tokens, no RP-initiated logout, and a revocation endpoint
published only in its RFC 8414 metadata.
"""

import os

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = os.environ["DOT_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "urls"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [os.path.join(BASE_DIR, "templates")],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DOT_DATABASE"]}}
LOGIN_URL = "/accounts/login/"

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": os.environ["DOT_RSA_PRIVATE_KEY"],
    "SCOPES": {
        "openid": "OpenID Connect scope",
        "profile": "Your name",
        "email": "Your email address",
    },
}
