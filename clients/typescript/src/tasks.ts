/** The task operations, typed by the API's OpenAPI document, with their headers as values. */
import createClient, { type Client } from "openapi-fetch";

import { parseLinks, parseTotal, type PageLinks } from "./pagination.js";
import type { components, operations, paths } from "./schema.js";
import { BearerTokens, fetchWithToken, type TokenGetter } from "./tokens.js";

type Schemas = components["schemas"];

export type Task = Schemas["TaskResponse"];
/** `POST` body: `title` alone is enough. */
export type NewTask = Schemas["TaskCreate"];
/** `PUT` body: omitted fields reset to their defaults. */
export type TaskReplacement = Schemas["TaskReplace"];
/** `PATCH` body: only the fields present change; `description: null` clears it. */
export type TaskChanges = Schemas["TaskPatch"];
export type TaskSort = Schemas["TaskSort"];
/** One of the caller's tags and how many of their tasks carry it. */
export type TagCount = Schemas["TagCount"];
export type ListQuery = NonNullable<operations["list_tasks"]["parameters"]["query"]>;
/** 422 carries the validation errors; every other error `{ detail: { error, ... } }`. */
export type ErrorBody = Schemas["ErrorResponse"] | Schemas["HTTPValidationError"];

export type ApiResult<T> =
  | { ok: true; value: T; response: Response }
  | { ok: false; status: number; error: ErrorBody; retryAfter: number | null; response: Response };

/** A task and the `ETag` of the version read: send it back as `ifMatch` to write that version. */
export interface TaskVersion {
  task: Task;
  etag: string;
}

export interface CreatedTask extends TaskVersion {
  /** The stored answer to an earlier request with the same `Idempotency-Key`. */
  replayed: boolean;
}

export interface TaskPage {
  tasks: Task[];
  total: number;
  links: PageLinks;
}

export interface WriteOptions {
  /** The `ETag` last read: the write fails with 412 if the task changed since. */
  ifMatch?: string;
}

export interface CreateOptions {
  /** The same key sent again (a retry) gets the first answer instead of a second task. */
  idempotencyKey?: string;
}

export interface TaskApiOptions {
  /** Where the API is served, e.g. `http://localhost:8000`. */
  baseUrl: string;
  /** A token for the signed-in user, e.g. `async () => (await authClient.token()).data?.token`. */
  getToken: TokenGetter;
  fetch?: typeof globalThis.fetch;
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

function resultOf<T, V>(outcome: Outcome<T>, value: (data: T, response: Response) => V): ApiResult<V> {
  const { data, error, response } = outcome;
  if (error !== undefined || !response.ok) {
    const retryAfter = response.headers.get("Retry-After");
    return {
      ok: false,
      status: response.status,
      error: error as ErrorBody,
      retryAfter: retryAfter === null ? null : Number(retryAfter),
      response,
    };
  }
  return { ok: true, value: value(data as T, response), response };
}

function etagOf(response: Response): string {
  return response.headers.get("ETag") ?? "";
}

function versionOf(task: Task, response: Response): TaskVersion {
  return { task, etag: etagOf(response) };
}

export type TaskApi = ReturnType<typeof createTaskApi>;

/** The API's task and tag operations for whoever `getToken` signs in; `userId` is the token's
 * `sub`. */
export function createTaskApi({ baseUrl, getToken, fetch = globalThis.fetch }: TaskApiOptions) {
  const tokens = new BearerTokens(getToken);
  const client: Client<paths> = createClient<paths>({
    baseUrl,
    fetch: fetchWithToken(tokens, (request) => fetch(request)),
  });

  return {
    /** The underlying openapi-fetch client, typed by every path, for anything not wrapped here. */
    client,

    /** Drop the cached token: call it on sign-out. */
    forgetToken: () => tokens.forget(),

    async list(userId: string, query: ListQuery = {}): Promise<ApiResult<TaskPage>> {
      const outcome = await client.GET("/api/{user_id}/tasks", {
        params: { path: { user_id: userId }, query },
      });
      return resultOf(outcome, (tasks, response) => ({
        tasks,
        total: parseTotal(response.headers.get("X-Total-Count")),
        links: parseLinks(response.headers.get("Link")),
      }));
    },

    async get(userId: string, taskId: number): Promise<ApiResult<TaskVersion>> {
      const outcome = await client.GET("/api/{user_id}/tasks/{task_id}", {
        params: { path: { user_id: userId, task_id: taskId } },
      });
      return resultOf(outcome, versionOf);
    },

    async create(
      userId: string,
      body: NewTask,
      { idempotencyKey }: CreateOptions = {},
    ): Promise<ApiResult<CreatedTask>> {
      const outcome = await client.POST("/api/{user_id}/tasks", {
        params: { path: { user_id: userId }, header: { "Idempotency-Key": idempotencyKey } },
        body,
      });
      return resultOf(outcome, (task, response) => ({
        ...versionOf(task, response),
        replayed: response.headers.get("Idempotent-Replayed") === "true",
      }));
    },

    async replace(
      userId: string,
      taskId: number,
      body: TaskReplacement,
      { ifMatch }: WriteOptions = {},
    ): Promise<ApiResult<TaskVersion>> {
      const outcome = await client.PUT("/api/{user_id}/tasks/{task_id}", {
        params: { path: { user_id: userId, task_id: taskId }, header: { "If-Match": ifMatch } },
        body,
      });
      return resultOf(outcome, versionOf);
    },

    async update(
      userId: string,
      taskId: number,
      changes: TaskChanges,
      { ifMatch }: WriteOptions = {},
    ): Promise<ApiResult<TaskVersion>> {
      const outcome = await client.PATCH("/api/{user_id}/tasks/{task_id}", {
        params: { path: { user_id: userId, task_id: taskId }, header: { "If-Match": ifMatch } },
        body: changes,
      });
      return resultOf(outcome, versionOf);
    },

    /** Flip `completed`, or set it to `completed` when given. */
    async toggle(
      userId: string,
      taskId: number,
      { ifMatch, completed }: WriteOptions & { completed?: boolean } = {},
    ): Promise<ApiResult<TaskVersion>> {
      const outcome = await client.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
        params: { path: { user_id: userId, task_id: taskId }, header: { "If-Match": ifMatch } },
        ...(completed === undefined ? {} : { body: { completed } }),
      });
      return resultOf(outcome, versionOf);
    },

    async remove(
      userId: string,
      taskId: number,
      { ifMatch }: WriteOptions = {},
    ): Promise<ApiResult<null>> {
      const outcome = await client.DELETE("/api/{user_id}/tasks/{task_id}", {
        params: { path: { user_id: userId, task_id: taskId }, header: { "If-Match": ifMatch } },
      });
      return resultOf(outcome, () => null);
    },

    /** The caller's tags, sorted by name case-insensitively, with their task counts. */
    async tags(userId: string): Promise<ApiResult<TagCount[]>> {
      const outcome = await client.GET("/api/{user_id}/tags", {
        params: { path: { user_id: userId } },
      });
      return resultOf(outcome, (tags) => tags);
    },

    /** Rename a tag on every task; onto another of the caller's tags, merge the two. */
    async renameTag(userId: string, name: string, newName: string): Promise<ApiResult<TagCount>> {
      const outcome = await client.PATCH("/api/{user_id}/tags/{name}", {
        params: { path: { user_id: userId, name } },
        body: { name: newName },
      });
      return resultOf(outcome, (tag) => tag);
    },

    /** Take a tag off every task. */
    async removeTag(userId: string, name: string): Promise<ApiResult<null>> {
      const outcome = await client.DELETE("/api/{user_id}/tags/{name}", {
        params: { path: { user_id: userId, name } },
      });
      return resultOf(outcome, () => null);
    },
  };
}
