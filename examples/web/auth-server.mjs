// Better Auth on its own origin, answering CORS with credentials for the page's origin: the
// page's requests carry Better Auth's session cookie.
import { createServer } from "node:http";
import { toNodeHandler } from "better-auth/node";
import { auth } from "./auth.mjs";
import { AUTH_URL, PAGE_URL, portOf } from "./origins.mjs";

const handler = toNodeHandler(auth);

/** @param {import("node:http").IncomingMessage} req @param {import("node:http").ServerResponse} res */
function allowThePage(req, res) {
  if (req.headers.origin !== PAGE_URL) return;
  res.setHeader("Access-Control-Allow-Origin", PAGE_URL);
  res.setHeader("Access-Control-Allow-Credentials", "true");
  res.setHeader("Vary", "Origin");
  if (req.method === "OPTIONS") {
    res.setHeader("Access-Control-Allow-Methods", "GET, POST");
    res.setHeader("Access-Control-Allow-Headers", "Content-Type");
    res.setHeader("Access-Control-Max-Age", "600");
  }
}

createServer((req, res) => {
  allowThePage(req, res);
  if (req.method === "OPTIONS") return res.writeHead(204).end();
  return handler(req, res);
}).listen(portOf(AUTH_URL), "127.0.0.1", () => console.log(`Better Auth: ${AUTH_URL}`));
