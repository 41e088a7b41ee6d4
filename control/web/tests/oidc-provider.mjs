// A local OpenID Connect provider for the sign-in tests: the `oidc-provider` package with its
// development login pages (any login name, no password). Login NAME is the person NAME, with
// the verified email NAME@idp.example (in the user info: the ID token carries only `sub`).
// Two clients: `sunomi` (OpenID Connect, HTTP Basic client authentication) for provider id
// `local`, and `sunomi-hub` (secret in the body, as GitHub takes it) for provider id `hub`,
// which Sunomi treats as GitHub-style OAuth 2.0.
// Prints its issuer URL once it listens; runs until killed.
// Usage: node oidc-provider.mjs PORT SUNOMI_BASE_URL CLIENT_SECRET
import http from 'node:http';
import Provider from 'oidc-provider';

const [port, sunomi, secret] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const client = (id, provider, auth) => ({
  client_id: id,
  client_secret: secret,
  redirect_uris: [`${sunomi}/api/v1/auth/sso/${provider}/callback`],
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: auth,
});
const provider = new Provider(issuer, {
  clients: [client('sunomi', 'local', 'client_secret_basic'), client('sunomi-hub', 'hub', 'client_secret_post')],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(_, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, email: `${sub}@idp.example`, email_verified: true, name: `${sub} of the IdP` };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});
http.createServer(provider.callback()).listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`${issuer}\n`);
  // Stdout carries the issuer only (its reader may stop reading): the provider's notices go
  // to stderr.
  console.log = console.error;
  console.info = console.error;
});
