// Seed page "Sessions": the TypeScript snippets, verbatim, inside a function.
import type { Db } from "jazz-tools";
import { app } from "./app.js";

export async function ownedTodosOf(db: Db) {
  const session = db.getAuthState().session;
  const sessionUserId = session?.user_id ?? null;

  const ownedTodos = sessionUserId
    ? await db.all(app.todos.where({ owner_id: sessionUserId }))
    : [];

  function addOwnedTodo(title: string) {
    if (!sessionUserId) return;

    db.insert(app.todos, {
      title,
      done: false,
      owner_id: sessionUserId,
    });
  }

  return { ownedTodos, addOwnedTodo };
}
