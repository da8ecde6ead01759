// Better Auth, configured once for the migration (migrate.mjs) and the server (auth-server.mjs).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LibsqlDialect } from "@libsql/kysely-libsql";
import { betterAuth } from "better-auth";
import { jwt } from "better-auth/plugins";
import { AUTH_URL, PAGE_URL } from "./origins.mjs";

const DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "data");

/** BETTER_AUTH_SECRET, else one generated once into data/auth-secret (git-ignored). */
function secret() {
  if (process.env.BETTER_AUTH_SECRET) return process.env.BETTER_AUTH_SECRET;
  const file = resolve(DATA_DIR, "auth-secret");
  if (!existsSync(file)) {
    mkdirSync(DATA_DIR, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600 });
  }
  return readFileSync(file, "utf8");
}

const databaseFile = process.env.AUTH_DATABASE ?? resolve(DATA_DIR, "auth.db");
mkdirSync(dirname(databaseFile), { recursive: true });

export const auth = betterAuth({
  baseURL: AUTH_URL,                       // the same URL the API gets as BETTER_AUTH_URL
  secret: secret(),
  database: { dialect: new LibsqlDialect({ url: `file:${databaseFile}` }), type: "sqlite" },
  emailAndPassword: { enabled: true },
  trustedOrigins: [PAGE_URL],              // the page's origin may sign in from there
  plugins: [jwt()],
  telemetry: { enabled: false },
});
