// The real OpenID Provider (panva's oidc-provider, OpenID Certified) that Session Keeper's tests and its
// demo run against. It listens on 127.0.0.1 (or IDP_HOST), on IDP_PORT (default 0: a free port), and
// prints one JSON line `{"issuer": "...", "port": N, "base": "..."}` on stdout once it accepts
// connections (`base` is where it listens, which differs from the issuer when IDP_ISSUER is set).
//
// Environment (all optional):
//   IDP_PORT                   port to listen on (0 = any free port)
//   IDP_HOST                   address or name to listen on (default 127.0.0.1; `::1` for IPv6 loopback,
//                              `localhost` for a name that resolves to both families); it is also the
//                              host of the default issuer (an IPv6 address in brackets)
//   IDP_TLS_CERT, IDP_TLS_KEY  PEM files of a server certificate (chain) and its key: serve HTTPS with
//                              them (node's https module); the default issuer is then https://HOST:PORT
//   IDP_ISSUER                 issuer to announce (default http://HOST:PORT, or https:// with
//                              IDP_TLS_CERT); tests use another to provoke an issuer mismatch
//   IDP_ACCESS_TOKEN_TTL       access token lifetime in seconds (default 3600)
//   IDP_ID_TOKEN_TTL           ID token lifetime in seconds (default 3600)
//   IDP_REFRESH_TOKEN_TTL      refresh token lifetime in seconds (default 14 days)
//   IDP_REFRESH_TOKEN_ABSOLUTE=1
//                              a rotated refresh token keeps what is left of the first one's lifetime
//                              (an absolute lifetime, as Keycloak's SSO Session Max), instead of a new one
//   IDP_ANNOUNCE_REFRESH_EXPIRY=1
//                              token answers say when their refresh token ends (`refresh_expires_in`, as
//                              Keycloak does)
//   IDP_SESSION_TTL            the provider's own sign-in session (its cookie) in seconds (default 14
//                              days); given, the grant a silent sign-in (prompt=none) needs lives as long
//                              (otherwise the grant ends with IDP_REFRESH_TOKEN_TTL)
//   IDP_IGNORE_ID_TOKEN_HINT=1 a provider that does not check `id_token_hint` against its signed-in user
//                              (the client must refuse an answer for another user itself)
//   IDP_NO_REFRESH_TOKEN=1     never issue refresh tokens (a provider that cannot extend a session)
//   IDP_REVOCATION_IN_RFC8414_ONLY=1
//                              publish the revocation endpoint only in the OAuth metadata of RFC 8414
//                              (/.well-known/oauth-authorization-server), not in openid-configuration,
//                              as some providers do; the endpoint itself is oidc-provider's own
//   IDP_STATE_FILE             keep the provider's state (grants, tokens, sessions, signing key, counters)
//                              across a restart: read at start if the file exists, written on SIGTERM
//                              after the requests in flight are answered, as a provider with a database
//                              restarts gracefully
//   IDP_TOKEN_EXCHANGE=1       offer RFC 8693 token exchange (access token in, access token for the
//                              requested audience out), registered through oidc-provider's own
//                              extension point for grant types, as providers that offer it do
//
// Everything under /test/ is a test-only control surface, never part of the protocol: counters of what
// the provider saw, fault injection (the next N token calls answer 503 or drop the connection; the next
// N authorization requests never answer), revoking every grant of a user, ending a user's sign-in
// sessions at the provider, and disabling an account. The protocol endpoints themselves are oidc-provider's
// own, unchanged.

import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const seconds = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`${name} must be a positive whole number of seconds, got "${raw}"`);
    process.exit(2);
  }
  return value;
};

const ttl = {
  access: seconds('IDP_ACCESS_TOKEN_TTL', 3600),
  id: seconds('IDP_ID_TOKEN_TTL', 3600),
  refresh: seconds('IDP_REFRESH_TOKEN_TTL', 14 * 24 * 3600),
  session: seconds('IDP_SESSION_TTL', 14 * 24 * 3600),
};
const sessionTtlGiven = Boolean(process.env.IDP_SESSION_TTL);
const absoluteRefreshTokens = process.env.IDP_REFRESH_TOKEN_ABSOLUTE === '1';
const announceRefreshExpiry = process.env.IDP_ANNOUNCE_REFRESH_EXPIRY === '1';
const ignoreIdTokenHint = process.env.IDP_IGNORE_ID_TOKEN_HINT === '1';
const issueRefreshTokens = process.env.IDP_NO_REFRESH_TOKEN !== '1';
const revocationOnlyInRfc8414 = process.env.IDP_REVOCATION_IN_RFC8414_ONLY === '1';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const tokenExchange = process.env.IDP_TOKEN_EXCHANGE === '1';
const grantTypes = ['authorization_code', 'refresh_token', ...(tokenExchange ? [TOKEN_EXCHANGE] : [])];

// The test users. The development login form accepts any password; a login name that is not listed
// here still signs in, with claims derived from the name.
const users = {
  alice: { name: 'Alice Example', email: 'alice@example.test' },
  bob: { name: 'Bob Example', email: 'bob@example.test' },
};
const disabledAccounts = new Set();

// The state a restart keeps (IDP_STATE_FILE): oidc-provider's own memory adapter, given a store that
// can be written out (a Map with expiries; the adapter's indexes are Maps too), the signing key and
// the counters.
const stateFile = process.env.IDP_STATE_FILE;
const saved = stateFile && existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : null;

class DurableStore {
  entries = new Map(); // key -> { value, expiry }

  get(key) {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (typeof entry.expiry === 'number' && entry.expiry <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key, value, options) {
    const expiry = typeof options?.maxAge === 'number' ? Date.now() + options.maxAge : undefined;
    this.entries.set(key, { value, expiry });
  }

  delete(key) {
    this.entries.delete(key);
  }

  toJSON() {
    return [...this.entries].map(([key, { value, expiry }]) => [key, value instanceof Map ? { map: [...value] } : value, expiry ?? null]);
  }

  static from(rows) {
    const store = new DurableStore();
    for (const [key, value, expiry] of rows) {
      store.entries.set(key, { value: value && value.map ? new Map(value.map) : value, expiry: expiry ?? undefined });
    }
    return store;
  }
}
const durable = stateFile ? (saved ? DurableStore.from(saved.entries) : new DurableStore()) : null;

const stats = saved?.stats ?? {
  tokenRequests: 0,
  grants: {}, // grant_type -> successful responses
  grantErrors: {}, // error code -> count
  revocations: 0,
  exchanges: [], // { audience, scope } of every token exchange
  userinfo: 0,
  endSessions: 0,
  tlsHandshakes: 0, // HTTPS connections set up (IDP_TLS_CERT)
  tlsRefusals: 0, // HTTPS handshakes the client broke off (it refused the certificate)
  authorizations: 0, // GET /auth requests
  silentAuthorizations: 0, // of those, with prompt=none
};
stats.authorizations ??= 0;
stats.silentAuthorizations ??= 0;
// The next `remaining` authorization requests never answer (a provider page that never redirects).
const hangingAuth = { remaining: 0 };
const sessionsByAccount = new Map(); // accountId -> Set(session uid), for /test/end-session
// Injected faults for the next `remaining` token requests: '503' answers 503, 'reset' drops the
// connection, 'slow' does the work (a refresh token is rotated) and answers `ms` later.
const faults = { remaining: 0, mode: '503', ms: 0 };
const grantsByAccount = new Map((saved?.grantsByAccount ?? []).map(([account, grants]) => [account, new Set(grants)])); // accountId -> Set(grantId)

const host = process.env.IDP_HOST || '127.0.0.1';
const tlsCert = process.env.IDP_TLS_CERT;
const tlsKey = process.env.IDP_TLS_KEY;
if (Boolean(tlsCert) !== Boolean(tlsKey)) {
  console.error('IDP_TLS_CERT and IDP_TLS_KEY go together: give both PEM files, or neither for plain HTTP');
  process.exit(2);
}
const httpServer = tlsCert ? createTlsServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey) }) : createServer();
await new Promise((resolve, reject) => {
  httpServer.once('error', reject);
  httpServer.listen(Number(process.env.IDP_PORT || 0), host, resolve);
});
const { port } = httpServer.address();
httpServer.on('secureConnection', () => { stats.tlsHandshakes += 1; });
httpServer.on('tlsClientError', () => { stats.tlsRefusals += 1; });
const base = `${tlsCert ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
const issuer = process.env.IDP_ISSUER || base;

const signingKey = saved?.signingKey ?? (() => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: `test-${Date.now()}` };
})();

// oidc-provider's default policy asks native clients for a consent page every time
// (`native_client_prompt`), so `prompt=none` could never succeed for them. Session Keeper is a
// first-party native client whose grant the person gave at the first sign-in: the check is removed the
// way oidc-provider documents policy changes (interactions.policy from interactionPolicy.base()), as
// providers that offer silent sign-in to desktop apps (Keycloak, Entra ID) allow it.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const provider = new Provider(issuer, {
  interactions: { policy },
  ...(durable ? { adapter: (model) => new MemoryAdapter(model, durable) } : {}),
  clients: [
    {
      client_id: 'session-keeper',
      client_name: 'Session Keeper',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: grantTypes,
      response_types: ['code'],
      // Loopback redirect URIs of native clients match on any port (RFC 8252 section 7.3); the IPv6
      // one for a sign-in whose listener is on [::1].
      redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/signed-out'],
    },
    {
      client_id: 'session-keeper-confidential',
      client_secret: 'confidential-test-secret',
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      post_logout_redirect_uris: ['http://127.0.0.1/signed-out'],
    },
    {
      // A client that sends its secret in the form body (client_secret_post, RFC 6749 section 2.3.1),
      // as oidc-agent does: the token helper benchmark's peer refreshes as this client.
      client_id: 'secret-in-body',
      client_secret: 'secret-in-body-test-secret',
      application_type: 'native',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
  ],
  // The example app's page (examples/hello-sessions) calls userinfo from its webview's origin.
  clientBasedCORS: (ctx, origin, client) =>
    ['tauri://localhost', 'http://tauri.localhost'].includes(origin) || client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin),
  jwks: { keys: [signingKey] },
  cookies: { keys: ['session-keeper-test-provider-only'] },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    userinfo: { enabled: true },
  },
  // Short-TTL tests need expiry exactly when the TTL says, not 15 s later.
  clockTolerance: 0,
  rotateRefreshToken: true,
  issueRefreshToken: async () => issueRefreshTokens,
  ttl: {
    AccessToken: ttl.access,
    IdToken: ttl.id,
    // Absolute: a rotated token inherits what is left of the one it replaces.
    RefreshToken: (ctx, _token, _client) =>
      (absoluteRefreshTokens && ctx?.oidc?.entities.RotatedRefreshToken ? ctx.oidc.entities.RotatedRefreshToken.remainingTTL : ttl.refresh),
    // The grant ends with the refresh token (the provider's absolute end, which tests rely on) unless
    // IDP_SESSION_TTL is given: then the consent a silent sign-in relies on lasts as long as the sign-in
    // session.
    Grant: sessionTtlGiven ? Math.max(ttl.refresh, ttl.session) : ttl.refresh,
    Session: ttl.session,
  },
  async findAccount(_ctx, accountId) {
    if (disabledAccounts.has(accountId)) return undefined;
    const known = users[accountId] ?? { name: accountId, email: `${accountId}@example.test` };
    return {
      accountId,
      async claims() {
        return {
          sub: accountId,
          name: known.name,
          preferred_username: accountId,
          email: known.email,
          email_verified: true,
        };
      },
    };
  },
});
provider.proxy = false;

// RFC 8693: a valid access token of this client as the subject, a scope no wider than its own, an
// access token for the audience back (oidc-provider's userinfo then refuses it: it is for another API).
if (tokenExchange) {
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    async (ctx) => {
      const { subject_token: subjectToken, subject_token_type: subjectType, audience, scope } = ctx.oidc.params;
      if (subjectType !== ACCESS_TOKEN_TYPE || !subjectToken) throw new errors.InvalidRequest('subject_token must be an access token');
      if (!audience) throw new errors.InvalidRequest('audience is required');
      const subject = await provider.AccessToken.find(subjectToken);
      if (!subject || subject.clientId !== ctx.oidc.client.clientId) throw new errors.InvalidGrant('subject_token is not valid');
      const granted = new Set(String(subject.scope ?? '').split(' '));
      const requested = scope ? String(scope).split(' ') : [...granted];
      if (requested.some((s) => !granted.has(s))) throw new errors.InvalidScope('the scope exceeds the subject token', scope);
      const token = new provider.AccessToken({
        accountId: subject.accountId,
        client: ctx.oidc.client,
        grantId: subject.grantId,
        scope: requested.join(' '),
        aud: audience,
      });
      const value = await token.save();
      stats.exchanges.push({ audience, scope: token.scope });
      ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: token.expiration, scope: token.scope };
    },
    ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope'],
  );
}

provider.on('grant.success', (ctx) => {
  const type = ctx.oidc.params.grant_type;
  stats.grants[type] = (stats.grants[type] ?? 0) + 1;
});
provider.on('grant.error', (_ctx, err) => {
  stats.grantErrors[err.error] = (stats.grantErrors[err.error] ?? 0) + 1;
});
provider.on('grant.saved', (grant) => {
  if (!grantsByAccount.has(grant.accountId)) grantsByAccount.set(grant.accountId, new Set());
  grantsByAccount.get(grant.accountId).add(grant.jti);
});
provider.on('authorization.success', (ctx) => {
  const session = ctx.oidc.session;
  if (!session?.accountId) return;
  if (!sessionsByAccount.has(session.accountId)) sessionsByAccount.set(session.accountId, new Set());
  sessionsByAccount.get(session.accountId).add(session.uid);
});
provider.on('end_session.success', () => {
  stats.endSessions += 1;
});

async function revokeAccount(accountId) {
  const grantIds = [...(grantsByAccount.get(accountId) ?? [])];
  for (const grantId of grantIds) {
    await provider.AccessToken.revokeByGrantId(grantId);
    await provider.RefreshToken.revokeByGrantId(grantId);
    await provider.AuthorizationCode.revokeByGrantId(grantId);
    const grant = await provider.Grant.find(grantId);
    if (grant) await grant.destroy();
  }
  grantsByAccount.delete(accountId);
  return grantIds.length;
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/test/')) {
    const query = ctx.query;
    switch (`${ctx.method} ${ctx.path}`) {
      case 'GET /test/stats':
        ctx.body = stats;
        return;
      case 'POST /test/fail':
        faults.remaining = Number(query.count ?? 1);
        faults.mode = ['reset', 'slow'].includes(query.mode) ? query.mode : '503';
        faults.ms = Number(query.ms ?? 0);
        ctx.body = faults;
        return;
      case 'POST /test/revoke':
        ctx.body = { revokedGrants: await revokeAccount(String(query.sub)) };
        return;
      case 'POST /test/end-session': {
        // The user's sign-in sessions at the provider end (as after a logout elsewhere or the session's
        // maximum): the next prompt=none is answered login_required. Grants and tokens stay.
        let ended = 0;
        for (const uid of sessionsByAccount.get(String(query.sub)) ?? []) {
          const session = await provider.Session.findByUid(uid);
          if (session) {
            await session.destroy();
            ended += 1;
          }
        }
        sessionsByAccount.delete(String(query.sub));
        ctx.body = { endedSessions: ended };
        return;
      }
      case 'POST /test/hang-auth':
        hangingAuth.remaining = Number(query.count ?? 1);
        ctx.body = hangingAuth;
        return;
      case 'POST /test/disable':
        disabledAccounts.add(String(query.sub));
        ctx.body = { disabled: [...disabledAccounts] };
        return;
      default:
        ctx.status = 404;
        ctx.body = { error: 'no such test route' };
        return;
    }
  }
  if (ctx.method === 'POST' && ctx.path === '/token') {
    stats.tokenRequests += 1;
    if (faults.remaining > 0) {
      faults.remaining -= 1;
      if (faults.mode === 'slow') {
        await next();
        await new Promise((resolve) => setTimeout(resolve, faults.ms));
        return;
      }
      if (faults.mode === 'reset') {
        ctx.req.socket.destroy();
        ctx.respond = false;
        return;
      }
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'injected outage' };
      return;
    }
  }
  if (ctx.method === 'GET' && ctx.path === '/auth') {
    stats.authorizations += 1;
    if (ctx.query.prompt === 'none') stats.silentAuthorizations += 1;
    if (hangingAuth.remaining > 0) {
      hangingAuth.remaining -= 1;
      // Never answered: the connection stays open until the client gives up.
      await new Promise((resolve) => { ctx.req.socket.once('close', resolve); });
      ctx.respond = false;
      return;
    }
    if (ignoreIdTokenHint && ctx.query.id_token_hint !== undefined) {
      const params = new URLSearchParams(ctx.querystring);
      params.delete('id_token_hint');
      ctx.querystring = params.toString();
    }
  }
  if (ctx.method === 'POST' && ctx.path === '/token/revocation') stats.revocations += 1;
  if (ctx.path === '/me') stats.userinfo += 1;
  if (revocationOnlyInRfc8414 && ctx.method === 'GET' && ctx.path === '/.well-known/oauth-authorization-server') {
    ctx.body = { issuer, token_endpoint: `${issuer}/token`, revocation_endpoint: `${issuer}/token/revocation` };
    return;
  }
  await next();
  if (announceRefreshExpiry && ctx.method === 'POST' && ctx.path === '/token' && ctx.body?.refresh_token) {
    const token = await provider.RefreshToken.find(ctx.body.refresh_token);
    if (token) ctx.body = { ...ctx.body, refresh_expires_in: token.remainingTTL };
  }
  if (revocationOnlyInRfc8414 && ctx.path === '/.well-known/openid-configuration' && ctx.body) {
    delete ctx.body.revocation_endpoint;
  }
});

// The harness may stop reading stdout after the ready line; a closed pipe must not end the provider.
process.stdout.on('error', () => {});

httpServer.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, port, base })}\n`);

// A graceful stop: no new connections, the requests in flight answered, idle keep-alive connections
// closed, then (with IDP_STATE_FILE) the state written, atomically, and the process ends.
let inFlight = 0;
httpServer.on('request', (_req, res) => {
  inFlight += 1;
  res.on('close', () => { inFlight -= 1; });
});
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  httpServer.close();
  const drained = setInterval(() => {
    httpServer.closeIdleConnections();
    if (inFlight > 0) return;
    clearInterval(drained);
    if (durable) {
      const state = { entries: durable.toJSON(), signingKey, stats, grantsByAccount: [...grantsByAccount].map(([a, g]) => [a, [...g]]) };
      writeFileSync(`${stateFile}.tmp`, JSON.stringify(state));
      renameSync(`${stateFile}.tmp`, stateFile);
    }
    httpServer.closeAllConnections();
    process.exit(0);
  }, 5);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
