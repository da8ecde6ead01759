/**
 * The wrapper's own behaviour against a stand-in `fetch` (node --test, after esbuild bundles it):
 * tokens are cached and replaced once on a 401, and headers become typed values.
 */
import assert from "node:assert/strict";
import { test } from "node:test";

import { createTaskApi, parseLinks } from "../src/index.js";

const TASK = {
  id: 7,
  user_id: "u1",
  title: "Buy milk",
  description: null,
  completed: false,
  created_at: "2026-11-29T20:22:30+00:00",
  updated_at: "2026-11-29T20:22:30+00:00",
  version: 1,
};

/** A `fetch` answering with `answers` in turn, keeping the requests it got. */
function standIn(...answers: Response[]) {
  const requests: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    requests.push(new Request(input, init));
    const answer = answers.shift();
    assert.ok(answer, "more requests than answers");
    return answer;
  };
  return { fetch: fetch as typeof globalThis.fetch, requests };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function tokens(...issued: string[]) {
  const calls: string[] = [];
  return {
    calls,
    getToken: async () => {
      const token = issued.shift() ?? "none left";
      calls.push(token);
      return token;
    },
  };
}

test("a token is asked for once and reused", async () => {
  const { fetch, requests } = standIn(json(200, TASK, { ETag: '"7.1"' }), json(200, TASK));
  const { calls, getToken } = tokens("first");
  const api = createTaskApi({ baseUrl: "http://api.test", getToken, fetch });

  await api.get("u1", 7);
  await api.get("u1", 7);

  assert.deepEqual(calls, ["first"]);
  assert.deepEqual(
    requests.map((request) => request.headers.get("Authorization")),
    ["Bearer first", "Bearer first"],
  );
});

test("a 401 is retried once with a new token, body and headers included", async () => {
  const expired = json(401, { detail: { error: "Token expired" } });
  const { fetch, requests } = standIn(expired, json(201, TASK, { ETag: '"7.1"' }));
  const { calls, getToken } = tokens("stale", "fresh");
  const api = createTaskApi({ baseUrl: "http://api.test", getToken, fetch });

  const created = await api.create("u1", { title: "Buy milk" }, { idempotencyKey: "k-1" });

  assert.deepEqual(calls, ["stale", "fresh"]);
  assert.equal(requests[1]?.headers.get("Authorization"), "Bearer fresh");
  assert.equal(requests[1]?.headers.get("Idempotency-Key"), "k-1");
  assert.deepEqual(await requests[1]?.json(), { title: "Buy milk" });
  assert.ok(created.ok);
  assert.deepEqual(created.value, { task: TASK, etag: '"7.1"', replayed: false });
});

test("a second 401 is the answer, not another retry", async () => {
  const refused = () => json(401, { detail: { error: "Token signature is invalid" } });
  const { fetch, requests } = standIn(refused(), refused());
  const api = createTaskApi({ baseUrl: "http://api.test", ...tokens("a", "b"), fetch });

  const listed = await api.list("u1");

  assert.equal(requests.length, 2);
  assert.ok(!listed.ok);
  assert.equal(listed.status, 401);
  assert.deepEqual(listed.error, { detail: { error: "Token signature is invalid" } });
});

test("forgetToken makes the next call ask for a new token", async () => {
  const { fetch } = standIn(json(200, TASK), json(200, TASK));
  const { calls, getToken } = tokens("alice's", "bob's");
  const api = createTaskApi({ baseUrl: "http://api.test", getToken, fetch });

  await api.get("u1", 7);
  api.forgetToken();
  await api.get("u2", 7);

  assert.deepEqual(calls, ["alice's", "bob's"]);
});

test("If-Match goes out, and a 412 and its Retry-After come back as values", async () => {
  const conflict = json(412, { detail: { error: "Precondition failed" } });
  const busy = json(503, { detail: { error: "Database unavailable" } }, { "Retry-After": "2" });
  const { fetch, requests } = standIn(conflict, busy);
  const api = createTaskApi({ baseUrl: "http://api.test", ...tokens("t"), fetch });

  const updated = await api.update("u1", 7, { title: "Oat milk" }, { ifMatch: '"7.1"' });
  const removed = await api.remove("u1", 7);

  assert.equal(requests[0]?.headers.get("If-Match"), '"7.1"');
  assert.ok(!updated.ok && updated.status === 412 && updated.retryAfter === null);
  assert.ok(!removed.ok && removed.status === 503 && removed.retryAfter === 2);
});

test("a list page carries its total and the positions of its neighbours", async () => {
  const link = [
    '<http://api.test/api/u1/tasks?limit=5&offset=0&search=milk>; rel="first"',
    '<http://api.test/api/u1/tasks?limit=5&offset=5&search=milk>; rel="prev"',
    '<http://api.test/api/u1/tasks?limit=5&offset=15&search=milk>; rel="next"',
    '<http://api.test/api/u1/tasks?limit=5&offset=20&search=milk>; rel="last"',
  ].join(", ");
  const { fetch, requests } = standIn(json(200, [TASK], { "X-Total-Count": "21", Link: link }));
  const api = createTaskApi({ baseUrl: "http://api.test", ...tokens("t"), fetch });

  const page = await api.list("u1", { limit: 5, offset: 10, search: "milk" });

  assert.equal(requests[0]?.url, "http://api.test/api/u1/tasks?limit=5&offset=10&search=milk");
  assert.ok(page.ok);
  assert.deepEqual(page.value, {
    tasks: [TASK],
    total: 21,
    links: {
      first: { limit: 5, offset: 0 },
      prev: { limit: 5, offset: 5 },
      next: { limit: 5, offset: 15 },
      last: { limit: 5, offset: 20 },
    },
  });
  assert.deepEqual(parseLinks(null), {});
});
