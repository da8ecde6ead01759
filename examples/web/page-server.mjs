// The page on its own origin: esbuild's server bundles src/main.ts (with the client) into
// public/assets/ and serves it beside public/; a reload of the page picks up a change.
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { API_URL, AUTH_URL, PAGE_URL, portOf } from "./origins.mjs";

const context = await esbuild.context({
  absWorkingDir: dirname(fileURLToPath(import.meta.url)),
  entryPoints: ["src/main.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  sourcemap: true,
  outdir: "public/assets",
  logLevel: "warning",
  define: { API_URL: JSON.stringify(API_URL), AUTH_URL: JSON.stringify(AUTH_URL) },
});
await context.serve({ host: "127.0.0.1", port: portOf(PAGE_URL), servedir: "public" });
console.log(`Page: ${PAGE_URL}`);
