// Creates Better Auth's tables (users, sessions, accounts, the jwt() plugin's keys); run once,
// and again after upgrading better-auth. `npx @better-auth/cli migrate` does this on Node 22.
import { getMigrations } from "better-auth/db/migration";
import { auth } from "./auth.mjs";

const { runMigrations } = await getMigrations(auth.options);
await runMigrations();
