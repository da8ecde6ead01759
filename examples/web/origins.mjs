// The example's three origins, each overridable from the environment (`make example` and the
// browser test set them; the defaults are the API's default CORS_ORIGINS and ports).
export const API_URL = process.env.API_URL ?? "http://localhost:8000";
export const AUTH_URL = process.env.AUTH_URL ?? "http://localhost:3000";
export const PAGE_URL = process.env.PAGE_URL ?? "http://localhost:5173";

/** The port a server for `url` listens on. @param {string} url */
export function portOf(url) {
  return Number(new URL(url).port);
}
