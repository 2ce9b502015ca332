// @ts-check
// The Add provider dialog's presets: for each well-known provider, the few values that vary (a tenant,
// a realm, a domain) and how its issuer URL is built from them, the scopes it accepts, where its
// sign-in page can be shown, and its page on registering a desktop client. Pure data and functions,
// tested with `node --test tests/ui` against the issuers each provider documents.

const STANDARD_SCOPES = "openid profile email offline_access";

/**
 * A value a preset's issuer is made from, asked for in the dialog.
 * @typedef {Object} PresetField
 * @property {string} name
 * @property {string} label
 * @property {string} [placeholder]
 * @property {string} [value]
 * @property {boolean} [optional]
 */

/**
 * A well-known provider. `issuer` builds the issuer URL from the fields' values (null: typed in).
 * @typedef {Object} Preset
 * @property {string} id
 * @property {string} label
 * @property {PresetField[]} fields
 * @property {((values: Record<string, string>) => string) | null} issuer
 * @property {string} scopes
 * @property {"embeddedWindow" | "systemBrowser"} signInWith
 * @property {string | null} guide
 * @property {boolean} [clientSecret]
 * @property {Record<string, string>} [extraAuthorizationParams]
 * @property {boolean} consentForOfflineAccess Whether prompt=consent goes with offline_access (OIDC Core 11).
 */

// "id.example.com", "https://id.example.com/" or "id.example.com/some/path" → "id.example.com".
/** @param {unknown} text @returns {string} */
export function hostOf(text) {
  return String(text ?? "").trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/[/?#].*$/, "");
}

// "sso.example.com" or "https://sso.example.com/" → "https://sso.example.com" (a scheme the user
// typed is kept, so a local http:// test server works).
/** @param {unknown} text @returns {string} */
export function originOf(text) {
  const trimmed = String(text ?? "").trim();
  const scheme = /^(https?):\/\//i.exec(trimmed)?.[1]?.toLowerCase() ?? "https";
  return `${scheme}://${hostOf(trimmed)}`;
}

/** @param {unknown} text */
const segment = (text) => encodeURIComponent(String(text ?? "").trim());

/** @type {Preset[]} */
export const PRESETS = [
  {
    id: "generic",
    label: "Another OpenID Connect provider",
    fields: [],
    issuer: null,
    scopes: STANDARD_SCOPES,
    signInWith: "embeddedWindow",
    // OIDC Core 11: offline_access needs prompt=consent, else the provider may hand out a refresh token
    // tied to its login session (oidc-provider, LemonLDAP::NG) or none.
    consentForOfflineAccess: true,
    guide: null,
  },
  {
    id: "google",
    label: "Google",
    fields: [],
    issuer: () => "https://accounts.google.com",
    // Google refuses the offline_access scope; a refresh token comes with access_type=offline, and
    // prompt=consent makes it come on every sign-in, not only the first.
    scopes: "openid profile email",
    extraAuthorizationParams: { access_type: "offline", prompt: "consent" },
    // Google blocks sign-in in embedded web views ("disallowed_useragent").
    signInWith: "systemBrowser",
    // Google sends its own prompt=consent (above) and has no offline_access scope.
    consentForOfflineAccess: false,
    // Google's desktop clients come with a client secret that Google itself says is not secret.
    clientSecret: true,
    guide: "https://developers.google.com/identity/protocols/oauth2/native-app",
  },
  {
    id: "entra",
    label: "Microsoft Entra ID",
    fields: [{ name: "tenant", label: "Directory (tenant) ID", placeholder: "8eaef023-2b34-4da1-9baa-8bc8c9d6a490" }],
    issuer: ({ tenant }) => `https://login.microsoftonline.com/${segment(tenant)}/v2.0`,
    scopes: STANDARD_SCOPES,
    signInWith: "embeddedWindow",
    // Entra ID grants offline_access without it; with it, every sign-in would show a consent page.
    consentForOfflineAccess: false,
    guide: "https://learn.microsoft.com/en-us/entra/identity-platform/scenario-desktop-app-registration",
  },
  {
    id: "keycloak",
    label: "Keycloak",
    fields: [
      { name: "host", label: "Keycloak address", placeholder: "sso.example.com" },
      { name: "realm", label: "Realm", placeholder: "myrealm" },
    ],
    issuer: ({ host, realm }) => `${originOf(host)}/realms/${segment(realm)}`,
    scopes: "openid profile email",
    signInWith: "embeddedWindow",
    // Keycloak grants offline_access (when it is asked for) without a consent page.
    consentForOfflineAccess: false,
    guide: "https://www.keycloak.org/docs/latest/server_admin/index.html#_oidc_clients",
  },
  {
    id: "okta",
    label: "Okta",
    fields: [
      { name: "domain", label: "Okta domain", placeholder: "dev-123456.okta.com" },
      { name: "server", label: "Authorization server (empty for the org server)", value: "default", optional: true },
    ],
    issuer: ({ domain, server }) =>
      String(server ?? "").trim() ? `https://${hostOf(domain)}/oauth2/${segment(server)}` : `https://${hostOf(domain)}`,
    scopes: STANDARD_SCOPES,
    signInWith: "embeddedWindow",
    // Okta, Auth0 and Authentik grant offline_access without it, and would show consent at every sign-in.
    consentForOfflineAccess: false,
    guide: "https://developer.okta.com/docs/guides/implement-grant-type/authcodepkce/main/",
  },
  {
    id: "auth0",
    label: "Auth0",
    fields: [{ name: "domain", label: "Auth0 domain", placeholder: "example.eu.auth0.com" }],
    // Auth0 announces its issuer with a trailing slash.
    issuer: ({ domain }) => `https://${hostOf(domain)}/`,
    scopes: STANDARD_SCOPES,
    signInWith: "embeddedWindow",
    consentForOfflineAccess: false,
    guide: "https://auth0.com/docs/get-started/auth0-overview/create-applications/native-apps",
  },
  {
    id: "gitlab",
    label: "GitLab",
    fields: [{ name: "host", label: "GitLab address", value: "gitlab.com" }],
    issuer: ({ host }) => originOf(host),
    // GitLab issues refresh tokens without offline_access, which it does not know.
    scopes: "openid profile email",
    signInWith: "embeddedWindow",
    // GitLab has no offline_access scope.
    consentForOfflineAccess: false,
    guide: "https://docs.gitlab.com/integration/oauth_provider/",
  },
  {
    id: "authentik",
    label: "Authentik",
    fields: [
      { name: "host", label: "Authentik address", placeholder: "auth.example.com" },
      { name: "slug", label: "Application slug", placeholder: "session-keeper" },
    ],
    // Authentik announces its issuer with a trailing slash.
    issuer: ({ host, slug }) => `${originOf(host)}/application/o/${segment(slug)}/`,
    scopes: STANDARD_SCOPES,
    signInWith: "embeddedWindow",
    consentForOfflineAccess: false,
    guide: "https://docs.goauthentik.io/add-secure-apps/providers/oauth2/",
  },
];

/** @param {string} id @returns {Preset} */
export function preset(id) {
  return PRESETS.find((p) => p.id === id) ?? PRESETS[0];
}

// The issuer a preset builds from its fields, or null while a required field is empty.
/** @param {string} presetId @param {Record<string, string>} values @returns {string | null} */
export function issuerFor(presetId, values) {
  const chosen = preset(presetId);
  if (!chosen.issuer) return null;
  const missing = chosen.fields.some((field) => !field.optional && !String(values[field.name] ?? "").trim());
  return missing ? null : chosen.issuer(values);
}

// The issuer a provider announced, when it differs from the one typed only by a trailing slash.
/** @param {unknown} typed @param {unknown} announced @returns {string | null} */
export function trailingSlashFix(typed, announced) {
  if (typeof typed !== "string" || typeof announced !== "string" || typed === announced) return null;
  return typed.replace(/\/+$/, "") === announced.replace(/\/+$/, "") ? announced : null;
}
