import { createTaskApi } from "task-api-client";
import { authClient } from "./auth-client.js";
import { apiUrl } from "./config.js";

export const api = createTaskApi({
  baseUrl: apiUrl,
  getToken: async () => (await authClient.token()).data?.token,
});
