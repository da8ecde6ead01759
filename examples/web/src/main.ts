// The page: sign up or in with Better Auth, then list (a page at a time), add, edit, toggle and
// delete tasks through the API's client. Plain DOM, so what matters stays in view.
import type { ApiResult, ErrorBody, PageLinks, Task } from "task-api-client";
import { api } from "./api.js";
import { authClient } from "./auth-client.js";

const PAGE_SIZE = 5;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

const status = element<HTMLParagraphElement>("status");
const signedOut = element<HTMLElement>("signed-out");
const signedIn = element<HTMLElement>("signed-in");
const taskList = element<HTMLUListElement>("tasks");
const range = element<HTMLSpanElement>("range");
const previous = element<HTMLButtonElement>("previous");
const next = element<HTMLButtonElement>("next");

let userId = "";
let offset = 0;
let links: PageLinks = {};

function say(message: string, isError = false): void {
  status.textContent = message;
  status.classList.toggle("error", isError);
}

/** The API's words for what went wrong: a 422's field errors, or `detail.error`. */
function describe(error: ErrorBody): string {
  if (Array.isArray(error.detail)) return error.detail.map((item) => item.msg).join("; ");
  return error.detail?.error ?? "Request failed";
}

/** The value of a result, or `undefined` after saying what failed. */
function valueOf<T>(result: ApiResult<T>): T | undefined {
  if (result.ok) return result.value;
  say(`${result.status}: ${describe(result.error)}`, true);
  return undefined;
}

function field(form: HTMLFormElement, name: string): string {
  return String(new FormData(form).get(name) ?? "");
}

async function showSession(): Promise<void> {
  const { data } = await authClient.getSession();
  userId = data?.user.id ?? "";
  signedOut.hidden = Boolean(data);
  signedIn.hidden = !data;
  if (data) {
    element("who").textContent = data.user.email;
    offset = 0;
    await showTasks();
  }
}

async function showTasks(): Promise<void> {
  const page = valueOf(await api.list(userId, { limit: PAGE_SIZE, offset }));
  if (!page) return;
  if (page.tasks.length === 0 && page.links.prev) {
    offset = page.links.prev.offset;
    return showTasks();
  }
  links = page.links;
  taskList.replaceChildren(...page.tasks.map(taskItem));
  range.textContent =
    page.total === 0 ? "No tasks yet" : `${offset + 1}-${offset + page.tasks.length} of ${page.total}`;
  previous.disabled = !links.prev;
  next.disabled = !links.next;
}

function taskItem(task: Task): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.taskId = String(task.id);
  item.classList.toggle("done", task.completed);

  const done = document.createElement("input");
  done.type = "checkbox";
  done.checked = task.completed;
  done.setAttribute("aria-label", `Done: ${task.title}`);
  done.addEventListener("change", async () => {
    if (valueOf(await api.toggle(userId, task.id))) await showTasks();
  });

  const title = document.createElement("span");
  title.className = "title";
  title.textContent = ` ${task.title} `;

  const edit = button("Edit", () => startEditing(item, task.id));
  const remove = button("Delete", async () => {
    if (valueOf(await api.remove(userId, task.id)) !== undefined) await showTasks();
  });
  item.append(done, title, edit, remove);
  return item;
}

function button(label: string, onClick: () => unknown): HTMLButtonElement {
  const made = document.createElement("button");
  made.type = "button";
  made.textContent = label;
  made.addEventListener("click", onClick);
  return made;
}

/** An editor for the task as read now: saving sends its ETag, so a change made meanwhile (in
 * another tab, by another device) is reported as a conflict instead of being overwritten. */
async function startEditing(item: HTMLLIElement, taskId: number): Promise<void> {
  const read = valueOf(await api.get(userId, taskId));
  if (!read) return;
  const form = document.createElement("form");
  form.className = "editor";
  const title = document.createElement("input");
  title.name = "title";
  title.value = read.task.title;
  title.required = true;
  title.setAttribute("aria-label", "Title");
  const conflict = document.createElement("p");
  conflict.className = "conflict";
  conflict.setAttribute("role", "alert");
  const save = document.createElement("button");
  save.textContent = "Save";
  form.append(title, save, button("Cancel", showTasks), conflict);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const saved = await api.update(userId, taskId, { title: title.value }, { ifMatch: read.etag });
    if (!saved.ok && saved.status === 412) {
      conflict.textContent = "This task changed since you opened it: cancel to see it as it is now.";
    } else if (valueOf(saved)) {
      await showTasks();
    }
  });
  item.querySelector("form.editor")?.remove();
  item.append(form);
  title.focus();
}

element<HTMLFormElement>("sign-up").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const { error } = await authClient.signUp.email({
    name: field(form, "name"),
    email: field(form, "email"),
    password: field(form, "password"),
  });
  if (error) return say(error.message ?? "Sign-up failed", true);
  say("");
  await showSession();
});

element<HTMLFormElement>("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  const { error } = await authClient.signIn.email({
    email: field(form, "email"),
    password: field(form, "password"),
  });
  if (error) return say(error.message ?? "Sign-in failed", true);
  say("");
  await showSession();
});

element("sign-out").addEventListener("click", async () => {
  await authClient.signOut();
  api.forgetToken();
  taskList.replaceChildren();
  await showSession();
});

element<HTMLFormElement>("new-task").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget as HTMLFormElement;
  // One key per submission: if the network drops the answer and the page retries, the API
  // replays the first answer instead of creating the task twice.
  const created = await api.create(
    userId,
    { title: field(form, "title") },
    { idempotencyKey: crypto.randomUUID() },
  );
  if (!valueOf(created)) return;
  form.reset();
  say("");
  offset = 0;
  await showTasks();
});

previous.addEventListener("click", async () => {
  offset = links.prev?.offset ?? 0;
  await showTasks();
});
next.addEventListener("click", async () => {
  offset = links.next?.offset ?? offset;
  await showTasks();
});

await showSession();
