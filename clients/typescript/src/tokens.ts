/** The bearer token the API gets, cached between requests and fetched again once it is refused. */

/** Where tokens come from: Better Auth's `authClient.token()`, unwrapped to the token itself. */
export type TokenGetter = () => Promise<string | null | undefined>;

export class BearerTokens {
  #cached: Promise<string | null | undefined> | undefined;

  constructor(private readonly getToken: TokenGetter) {}

  /** The cached token, or a first one. */
  current(): Promise<string | null | undefined> {
    this.#cached ??= this.#fetch();
    return this.#cached;
  }

  /** A token other than `refused`: the one another request already refetched, else a new one. */
  async replacing(refused: string | null | undefined): Promise<string | null | undefined> {
    const cached = await this.current();
    if (cached !== refused) return cached;
    this.#cached = this.#fetch();
    return this.#cached;
  }

  /** Drop the cached token (on sign-out: it stays valid on the API until it expires). */
  forget(): void {
    this.#cached = undefined;
  }

  #fetch(): Promise<string | null | undefined> {
    const fetched = this.getToken();
    // A failed fetch is not cached: the next request asks again.
    fetched.catch(() => {
      if (this.#cached === fetched) this.#cached = undefined;
    });
    return fetched;
  }
}

/**
 * `fetch` with `Authorization: Bearer <token>`, sent once more with a fresh token on a 401.
 * Repeating is safe whatever the method: the API checks the token before anything else, so a
 * 401 changed nothing.
 */
export function fetchWithToken(tokens: BearerTokens, fetch: typeof globalThis.fetch) {
  async function send(request: Request, token: string | null | undefined): Promise<Response> {
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return fetch(request);
  }

  return async (request: Request): Promise<Response> => {
    const retry = request.clone();
    const token = await tokens.current();
    const response = await send(request, token);
    if (response.status !== 401) return response;
    return send(retry, await tokens.replacing(token));
  };
}
