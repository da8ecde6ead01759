// `make example`: creates Better Auth's tables and the API's, starts the three processes (the
// API, Better Auth, the page), prints their URLs once all three answer, and stops them all on
// Ctrl-C or when one of them exits.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { API_URL, AUTH_URL, PAGE_URL, portOf } from "./origins.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const PYTHON = process.env.PYTHON ?? resolve(ROOT, ".venv/bin/python");
const READY_SECONDS = 60;

const apiEnv = {
  ...process.env,
  BETTER_AUTH_URL: AUTH_URL,
  CORS_ORIGINS: PAGE_URL,
  PORT: String(portOf(API_URL)),
};

// Both databases' tables, side by side.
const migrations = [
  spawn(process.execPath, ["migrate.mjs"], { cwd: HERE, stdio: "inherit" }),
  spawn(PYTHON, ["-m", "backend", "migrate"], { cwd: ROOT, env: apiEnv, stdio: "inherit" }),
];
for (const [status] of await Promise.all(migrations.map((step) => once(step, "exit")))) {
  if (status !== 0) process.exit(status ?? 1);
}

const children = [
  spawn(process.execPath, ["auth-server.mjs"], { cwd: HERE, stdio: "inherit" }),
  spawn(PYTHON, ["-m", "backend", "serve"], { cwd: ROOT, env: apiEnv, stdio: "inherit" }),
  spawn(process.execPath, ["page-server.mjs"], { cwd: HERE, stdio: "inherit" }),
];

/** @param {number} code */
function stopAll(code) {
  for (const child of children) child.kill("SIGTERM");
  process.exitCode = code;
}

for (const child of children) {
  child.on("exit", (code) => {
    if (process.exitCode === undefined) stopAll(code || 1);
  });
}
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));

/** @param {string} url */
async function answers(url) {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
}

const checks = [`${API_URL}/healthz`, `${AUTH_URL}/api/auth/ok`, `${PAGE_URL}/`];
const deadline = Date.now() + READY_SECONDS * 1000;
while (!(await Promise.all(checks.map(answers))).every(Boolean)) {
  if (process.exitCode !== undefined) break;
  if (Date.now() > deadline) {
    console.error(`Not all of ${checks.join(", ")} answered within ${READY_SECONDS} s`);
    stopAll(1);
    break;
  }
  await new Promise((done) => setTimeout(done, 200));
}
if (process.exitCode === undefined) {
  console.log(`
The example is up:
  page          ${PAGE_URL}    <- open this one
  Better Auth   ${AUTH_URL}
  API           ${API_URL}    (its docs: ${API_URL}/docs)
Ctrl-C stops all three.`);
}
