// Real Better Auth servers for the API's interop tests (tests/interop/test_better_auth.py).
//
// Usage: node server.mjs '<json list of {name, port, alg, expiresIn}>'
// Each entry becomes its own Better Auth instance (own keys, own in-memory database) with
// email + password sign-up and the jwt() plugin, serving Better Auth's handler on
// http://127.0.0.1:<port>, so /api/auth/jwks and /api/auth/token are the library's own.
// When every instance listens, one line is printed: {"ready": {"<name>": "<base url>", ...}}.
//
// Test controls, next to Better Auth's routes (loopback only, never part of Better Auth):
//   POST /control/users   {email, password, name} -> {id, token}: signs the user up and gets a
//                         token the way a frontend does (authClient.signUp.email, then
//                         authClient.token()).
//   POST /control/token   {email} -> {token}: a fresh token for a signed-up user.
//   POST /control/rotate  -> expires the signing keys: Better Auth mints a new key on the next
//                         token, and keeps serving the old public keys for the grace period.
//   POST /control/retire  -> moves expired keys past the grace period: Better Auth stops
//                         listing them in its JWKS.
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { jwt } from "better-auth/plugins";
import { toNodeHandler } from "better-auth/node";
import { createAuthClient } from "better-auth/client";

const GRACE_PERIOD_SECONDS = 3600;

function startInstance({ name, port, alg, expiresIn }) {
  const baseURL = `http://127.0.0.1:${port}`;
  const db = { user: [], session: [], account: [], verification: [], jwks: [] };
  const auth = betterAuth({
    baseURL,
    secret: randomBytes(32).toString("hex"),
    database: memoryAdapter(db),
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    plugins: [
      jwt({
        jwks: {
          ...(alg ? { keyPairConfig: { alg } } : {}),
          gracePeriod: GRACE_PERIOD_SECONDS,
        },
        jwt: expiresIn ? { expirationTime: expiresIn } : {},
      }),
    ],
  });
  // A browser frontend on the same origin sends this Origin; Better Auth checks it (CSRF).
  const client = createAuthClient({ baseURL, fetchOptions: { headers: { origin: baseURL } } });
  const cookies = new Map();
  const handler = toNodeHandler(auth);

  async function tokenFor(email) {
    const { data, error } = await client.token({
      fetchOptions: { headers: { origin: baseURL, cookie: cookies.get(email) } },
    });
    if (error) throw new Error(`token(): ${JSON.stringify(error)}`);
    return data.token;
  }

  const controls = {
    async users({ email, password, name }) {
      let cookie;
      const { data, error } = await client.signUp.email(
        { email, password, name },
        { onResponse: ({ response }) => { cookie = response.headers.getSetCookie().map((c) => c.split(";")[0]).join("; "); } },
      );
      if (error) throw new Error(`signUp.email(): ${JSON.stringify(error)}`);
      cookies.set(email, cookie);
      return { id: data.user.id, token: await tokenFor(email) };
    },
    async token({ email }) {
      return { token: await tokenFor(email) };
    },
    async rotate() {
      for (const key of db.jwks) key.expiresAt = new Date(Date.now() - 1000);
      return { keys: db.jwks.length };
    },
    async retire() {
      const pastGrace = new Date(Date.now() - (GRACE_PERIOD_SECONDS + 60) * 1000);
      for (const key of db.jwks) if (key.expiresAt) key.expiresAt = pastGrace;
      return { keys: db.jwks.length };
    },
  };

  const server = createServer(async (req, res) => {
    const control = req.url.startsWith("/control/") && controls[req.url.slice("/control/".length)];
    if (!control) return handler(req, res);
    try {
      let body = "";
      for await (const chunk of req) body += chunk;
      const result = await control(body ? JSON.parse(body) : {});
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
    } catch (error) {
      res.writeHead(500, { "content-type": "text/plain" }).end(String(error?.stack ?? error));
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve([name, baseURL]));
  });
}

const instances = JSON.parse(process.argv[2] ?? "[]");
const ready = Object.fromEntries(await Promise.all(instances.map(startInstance)));
process.stdout.write(JSON.stringify({ ready }) + "\n");
