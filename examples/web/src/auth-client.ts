import { createAuthClient } from "better-auth/client";
import { jwtClient } from "better-auth/client/plugins";
import { authUrl } from "./config.js";

export const authClient = createAuthClient({ baseURL: authUrl, plugins: [jwtClient()] });
