// The OAuth 2.1 authorization server of the sign-in tests: npm oauth2-mock-server on
// 127.0.0.1, with what it lacks for MCP clients added through its hooks.
//
//   node tests/oauth/auth_server.mjs [PORT]      (default 0: a free port)
//
// When ready it prints one JSON line on stdout: {"issuer": "http://127.0.0.1:N", "port": N}.
// Then it reads commands on stdin, one per line:
//   revoke-refresh     from now on refresh_token grants get 400 {"error":"invalid_grant"}
//   expire-in SECONDS  later access tokens expire after SECONDS (exp and expires_in)
//   aud URL            later access tokens carry aud = URL (whatever the request asked)
//   quit               stop (so does the end of stdin)
// Each command is answered with one line "ok COMMAND" (or "error ...") on stdout.
//
// What the mock does by itself, and what this file adds:
// - GET /authorize redirects at once with ?code=...&state=... (no person to sign in); it
//   keeps a PKCE code_challenge (plain or S256) and checks code_verifier at /token. It does
//   not check that a verifier is sent for a code that had a challenge: added here. It puts
//   no `iss` in the redirect (RFC 9207): added here, and advertised in the metadata.
// - Its metadata is only at /.well-known/openid-configuration: it is served here at
//   /.well-known/oauth-authorization-server too (RFC 8414), with registration_endpoint.
// - It has no dynamic client registration: POST /register (RFC 7591) is added here; it
//   echoes the metadata and issues a client_id (any client_id is accepted anyway).
// - `aud` of access tokens: the mock sets it only for client_credentials, from a
//   non-standard `aud` form field. Here an RFC 8707 `resource` parameter of the token
//   request (or of the authorize request or the grant a refresh token continues) becomes
//   `aud`, unless an `aud URL` command fixed it. Without either, tokens keep what the mock
//   gives (no `aud` for authorization_code and refresh_token).
// - `scope`: the mock takes it from the token request only (else "dummy" for code and
//   refresh grants); here the scope asked at /authorize, or of the grant a refresh token
//   continues, carries over as a real server's does.
// - The issuer is http://127.0.0.1:PORT (the mock would say http://localhost:PORT), in the
//   metadata and in every token's `iss`.

import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { OAuth2Server, Events } from 'oauth2-mock-server';

const port = Number(process.argv[2] ?? 0);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(port, '127.0.0.1');
const actualPort = server.address().port;
// Set after start (the port may be 0 until then); every token built later uses it.
server.issuer.url = `http://127.0.0.1:${actualPort}`;
const issuer = server.issuer.url;
const service = server.service;

const settings = { revokeRefresh: false, expiresIn: undefined, aud: undefined };
// What an authorization code or a refresh token was granted for: {pkce, scope, resource}.
const codes = new Map();
const refreshTokens = new Map();

const log = (line) => process.stderr.write(`auth_server: ${line}\n`);

function metadata() {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    registration_endpoint: `${issuer}/register`,
    revocation_endpoint: `${issuer}/revoke`,
    introspection_endpoint: `${issuer}/introspect`,
    userinfo_endpoint: `${issuer}/userinfo`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    authorization_response_iss_parameter_supported: true,
    scopes_supported: ['openid', 'mcp:tools', 'mcp:admin'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-store');
  res.end(text);
}

service.on(Events.BeforeWellKnownOpenIdConfiguration, (response) => {
  Object.assign(response.body, metadata());
});
service.addRoute('GET', '/.well-known/oauth-authorization-server', (_req, res) => {
  sendJson(res, 200, metadata());
});

// RFC 7591: every registration succeeds; the answer echoes the client's metadata.
service.addRoute('POST', '/register', (req, res) => {
  const body = req.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    sendJson(res, 400, { error: 'invalid_client_metadata', error_description: 'a JSON object is required' });
    return;
  }
  if (!Array.isArray(body.redirect_uris) || body.redirect_uris.length === 0) {
    sendJson(res, 400, { error: 'invalid_redirect_uri', error_description: 'redirect_uris is required' });
    return;
  }
  const authMethod = body.token_endpoint_auth_method ?? 'client_secret_basic';
  const client = {
    ...body,
    client_id: `client-${randomUUID()}`,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    token_endpoint_auth_method: authMethod,
    grant_types: body.grant_types ?? ['authorization_code', 'refresh_token'],
    response_types: body.response_types ?? ['code'],
  };
  if (authMethod !== 'none') {
    client.client_secret = randomUUID();
    client.client_secret_expires_at = 0;
  }
  log(`registered ${client.client_id} (${body.client_name ?? 'no name'})`);
  sendJson(res, 201, client);
});

service.on(Events.BeforeAuthorizeRedirect, (redirect, req) => {
  const query = new URL(req.url ?? '/', issuer).searchParams;
  const code = redirect.url.searchParams.get('code');
  if (code !== null) {
    codes.set(code, {
      pkce: query.has('code_challenge'),
      scope: query.get('scope') ?? undefined,
      resource: query.get('resource') ?? undefined,
    });
  }
  redirect.url.searchParams.set('iss', issuer);
  log(`authorize: redirecting to ${redirect.url.origin}${redirect.url.pathname}`);
});

// The mock calls this hook for every JWT of a response: first the access token, then (for
// code, password and refresh grants) the id_token. Only the access token is changed.
const signedFor = new WeakSet();
// The grant a code or refresh token request continues, if we issued it.
function priorGrant(body) {
  if (body.grant_type === 'authorization_code') return codes.get(body.code);
  if (body.grant_type === 'refresh_token') return refreshTokens.get(body.refresh_token);
  return undefined;
}
service.on(Events.BeforeTokenSigning, (token, req) => {
  if (signedFor.has(req)) return;
  signedFor.add(req);
  const body = req.body ?? {};
  const prior = priorGrant(body);
  const aud = settings.aud ?? body.resource ?? prior?.resource;
  if (aud !== undefined) token.payload.aud = aud;
  if (body.scope === undefined && prior?.scope !== undefined) token.payload.scope = prior.scope;
  if (settings.expiresIn !== undefined) token.payload.exp = token.payload.iat + settings.expiresIn;
  if (typeof body.client_id === 'string') token.payload.client_id = body.client_id;
});

service.on(Events.BeforeResponse, (response, req) => {
  const body = req.body ?? {};
  if (body.grant_type === 'refresh_token' && settings.revokeRefresh) {
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'refresh token revoked' };
  } else if (body.grant_type === 'authorization_code') {
    const code = codes.get(body.code);
    if (code?.pkce && body.code_verifier === undefined) {
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'code_verifier required' };
    }
  }
  if (response.statusCode === 200) {
    const prior = priorGrant(body);
    if (body.scope === undefined && prior?.scope !== undefined) response.body.scope = prior.scope;
    if (settings.expiresIn !== undefined) response.body.expires_in = settings.expiresIn;
    if (typeof response.body.refresh_token === 'string') {
      refreshTokens.set(response.body.refresh_token, {
        scope: response.body.scope,
        resource: body.resource ?? prior?.resource,
      });
    }
  }
  if (body.grant_type === 'authorization_code') codes.delete(body.code);
  log(`token: ${body.grant_type} -> ${response.statusCode}`);
});

function command(line) {
  const [name, arg] = line.trim().split(/\s+/, 2);
  switch (name) {
    case 'revoke-refresh':
      settings.revokeRefresh = true;
      return true;
    case 'expire-in': {
      const seconds = Number(arg);
      if (!Number.isInteger(seconds) || seconds < 0) return false;
      settings.expiresIn = seconds;
      return true;
    }
    case 'aud':
      if (!arg) return false;
      settings.aud = arg;
      return true;
    default:
      return false;
  }
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
}

process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
log(`ready at ${issuer}`);

const input = createInterface({ input: process.stdin });
input.on('line', (line) => {
  if (line.trim() === '') return;
  if (line.trim() === 'quit') {
    void stop();
    return;
  }
  const ok = command(line);
  process.stdout.write(ok ? `ok ${line.trim()}\n` : `error unknown or malformed command: ${line.trim()}\n`);
});
input.on('close', () => void stop());
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => void stop());
