/** The Task API's TypeScript client: see README.md. */
export { createTaskApi } from "./tasks.js";
export type {
  ApiResult,
  CreateOptions,
  CreatedTask,
  ErrorBody,
  ListQuery,
  NewTask,
  TagCount,
  Task,
  TaskApi,
  TaskApiOptions,
  TaskChanges,
  TaskPage,
  TaskReplacement,
  TaskSort,
  TaskVersion,
  WriteOptions,
} from "./tasks.js";
export { parseLinks, parseTotal } from "./pagination.js";
export type { PageLinks, PagePosition, PageRelation } from "./pagination.js";
export type { TokenGetter } from "./tokens.js";
export type { components, operations, paths } from "./schema.js";
