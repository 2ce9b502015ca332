"""The provider's URLs, as django-oauth-toolkit's documentation mounts them: its endpoints under
`/o/` (so the issuer has a path) and its RFC 8414 metadata at the server root."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("o/", include(oauth2_urls)),
    path("", include((oauth2_urls.metadata_urlpatterns, "oauth2_metadata"))),
]
