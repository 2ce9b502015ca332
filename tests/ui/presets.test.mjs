// The Add provider presets: each builds the issuer its provider documents, from what varies.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PRESETS, issuerFor, preset, hostOf, originOf, trailingSlashFix } from "../../ui/presets.js";

// The issuer each provider's own documentation gives, for the example values it uses.
const documented = [
  // https://developers.google.com/identity/openid-connect/openid-connect#discovery
  ["google", {}, "https://accounts.google.com"],
  // https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc (issuer of a tenant)
  ["entra", { tenant: "9188040d-6c67-4c5b-b112-36a304b66dad" }, "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"],
  // https://www.keycloak.org/securing-apps/oidc-layers (Keycloak 17 and later: no /auth prefix)
  ["keycloak", { host: "sso.example.com", realm: "myrealm" }, "https://sso.example.com/realms/myrealm"],
  // https://developer.okta.com/docs/concepts/auth-servers/ (default custom server, org server)
  ["okta", { domain: "dev-123456.okta.com", server: "default" }, "https://dev-123456.okta.com/oauth2/default"],
  ["okta", { domain: "https://dev-123456.okta.com/", server: "" }, "https://dev-123456.okta.com"],
  // https://auth0.com/docs/get-started/applications/configure-applications-with-oidc-discovery
  ["auth0", { domain: "example.eu.auth0.com" }, "https://example.eu.auth0.com/"],
  // https://docs.gitlab.com/integration/openid_connect_provider/ (gitlab.com, or a self-managed host)
  ["gitlab", { host: "gitlab.com" }, "https://gitlab.com"],
  ["gitlab", { host: "https://gitlab.example.com/" }, "https://gitlab.example.com"],
  // https://docs.goauthentik.io/add-secure-apps/providers/oauth2/ (OpenID Configuration Issuer)
  ["authentik", { host: "authentik.company", slug: "my-app" }, "https://authentik.company/application/o/my-app/"],
];

test("each preset builds the issuer its provider documents", () => {
  for (const [id, values, issuer] of documented) assert.equal(issuerFor(id, values), issuer, id);
  const covered = new Set(documented.map(([id]) => id));
  for (const p of PRESETS.filter((p) => p.issuer)) assert.ok(covered.has(p.id), `${p.id} has no documented issuer case`);
});

test("a preset builds no issuer until its required fields are filled", () => {
  assert.equal(issuerFor("keycloak", { host: "sso.example.com", realm: " " }), null);
  assert.equal(issuerFor("entra", {}), null);
  assert.equal(issuerFor("generic", { issuer: "x" }), null);
});

test("what a user pastes is reduced to what the template needs", () => {
  assert.equal(hostOf("https://dev-1.okta.com/oauth2/default"), "dev-1.okta.com");
  assert.equal(originOf("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
  assert.equal(originOf("sso.example.com"), "https://sso.example.com");
  // A realm or slug cannot break out of its path segment.
  assert.equal(issuerFor("keycloak", { host: "a.example", realm: "x/../y" }), "https://a.example/realms/x%2F..%2Fy");
});

test("every preset says how to sign in and links its registration guide", () => {
  for (const p of PRESETS) {
    assert.ok(["embeddedWindow", "systemBrowser"].includes(p.signInWith), p.id);
    assert.match(p.scopes, /(^| )openid( |$)/, p.id);
    if (p.id !== "generic") assert.match(p.guide, /^https:\/\//, p.id);
  }
  // Google refuses embedded web views and the offline_access scope.
  assert.equal(preset("google").signInWith, "systemBrowser");
  assert.doesNotMatch(preset("google").scopes, /offline_access/);
  assert.equal(preset("nonsense").id, "generic");
});

test("each preset says whether prompt=consent goes with offline_access (OIDC Core 11)", () => {
  for (const p of PRESETS) assert.equal(typeof p.consentForOfflineAccess, "boolean", p.id);
  // Any other provider follows the spec; the well-known ones grant offline access without a consent page.
  assert.equal(preset("generic").consentForOfflineAccess, true);
  for (const id of ["entra", "okta", "auth0", "keycloak", "authentik"]) assert.equal(preset(id).consentForOfflineAccess, false, id);
  // GitLab knows no offline_access; Google has none either and sends its own prompt=consent.
  assert.doesNotMatch(preset("gitlab").scopes, /offline_access/);
  assert.equal(preset("gitlab").consentForOfflineAccess, false);
  assert.equal(preset("google").extraAuthorizationParams?.prompt, "consent");
  assert.equal(preset("google").consentForOfflineAccess, false);
});

test("an issuer that differs only by a trailing slash is offered as a fix, nothing else is", () => {
  assert.equal(trailingSlashFix("https://x.auth0.com", "https://x.auth0.com/"), "https://x.auth0.com/");
  assert.equal(trailingSlashFix("https://a.example/application/o/app/", "https://a.example/application/o/app"), "https://a.example/application/o/app");
  assert.equal(trailingSlashFix("https://a.example", "https://b.example/"), null);
  assert.equal(trailingSlashFix("https://a.example/", "https://a.example/"), null);
});
