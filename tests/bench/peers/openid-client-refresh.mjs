// The peer of the core's refresh: openid-client refreshing `rounds` times in a row against the
// provider, each time with the refresh token the last answer rotated, and checking the refreshed ID
// token as the core does (claims and, with non-repudiation checks on, its signature). Prints one line
// of JSON: the durations in milliseconds, each from the request to the checked answer.
//
//   node openid-client-refresh.mjs ISSUER CLIENT_ID REFRESH_TOKEN ROUNDS
import * as client from "openid-client";

const [issuer, clientId, firstToken, rounds] = process.argv.slice(2);
const loopback = new URL(issuer).hostname === "127.0.0.1";
const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), loopback ? { execute: [client.allowInsecureRequests] } : undefined);
client.enableNonRepudiationChecks(config);
let refreshToken = firstToken;
const durations = [];
for (let round = 0; round < Number(rounds); round++) {
  const started = process.hrtime.bigint();
  const tokens = await client.refreshTokenGrant(config, refreshToken);
  if (!tokens.id_token || !tokens.claims()?.sub) throw new Error("a refresh without a checked ID token");
  durations.push(Number(process.hrtime.bigint() - started) / 1e6);
  refreshToken = tokens.refresh_token ?? refreshToken;
}
console.log(JSON.stringify({ durations }));
