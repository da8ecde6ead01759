/**
 * Type-level test, run by `tsc --noEmit`: the request bodies accept exactly what the API
 * accepts. A line under `@ts-expect-error` that compiles fails the check.
 */
import type { NewTask, TaskChanges, TaskReplacement, TaskApi } from "../src/index.js";

export const minimal: NewTask = { title: "Buy milk" };
export const full: NewTask = { title: "Buy milk", description: null, completed: true };
export const planned: NewTask = {
  title: "Water the plants",
  priority: "high",
  due_at: "2026-12-07T09:00:00+01:00",
  tags: ["Home", "garden"],
  recurrence: "FREQ=WEEKLY;BYDAY=MO",
};
export const retagged: TaskChanges = { tags: ["errands"], recurrence: null };
export const clearDue: TaskChanges = { due_at: null };
export const replacement: TaskReplacement = { title: "Buy oat milk" };
export const noChanges: TaskChanges = {};
export const clearDescription: TaskChanges = { description: null };

// @ts-expect-error the title is required
export const untitled: NewTask = { description: "Two litres" };
// @ts-expect-error the title is text
export const numericTitle: NewTask = { title: 42 };
// @ts-expect-error the API refuses unknown fields
export const unknownField: NewTask = { title: "Buy milk", colour: "red" };
// @ts-expect-error a priority is one of the API's levels
export const urgent: NewTask = { title: "Buy milk", priority: "urgent" };
// @ts-expect-error `completed` is a boolean, never null
export const nullCompleted: NewTask = { title: "Buy milk", completed: null };
// @ts-expect-error tags are a list of names
export const oneTag: NewTask = { title: "Buy milk", tags: "errands" };
// @ts-expect-error tags may be replaced by an empty list, never cleared with null
export const nullTags: TaskChanges = { tags: null };
// @ts-expect-error a title may be omitted from a patch but not cleared
export const nullTitle: TaskChanges = { title: null };
// @ts-expect-error a replacement needs its title too
export const untitledReplacement: TaskReplacement = { completed: true };

export async function calls(api: TaskApi): Promise<void> {
  await api.create("user-1", { title: "Buy milk" }, { idempotencyKey: "k-1" });
  await api.list("user-1", { limit: 5, offset: 5, completed: false, sort: "-created_at" });
  await api.list("user-1", { priority: ["high", "medium"], overdue: true, sort: "due_at" });
  await api.list("user-1", { tag: ["errands", "home"], has_due: true });
  await api.tags("user-1");
  await api.renameTag("user-1", "groceries", "errands");
  await api.removeTag("user-1", "errands");
  await api.update("user-1", 1, { completed: true }, { ifMatch: '"1.2"' });
  // @ts-expect-error the sort is one of the API's orders
  await api.list("user-1", { sort: "colour" });
  // @ts-expect-error task ids are numbers
  await api.get("user-1", "1");
}
