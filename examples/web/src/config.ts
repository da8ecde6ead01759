// The origins the page talks to, set by page-server.mjs when it bundles the page.
declare const API_URL: string;
declare const AUTH_URL: string;

export const apiUrl = API_URL;
export const authUrl = AUTH_URL;
