// Seed page "Sessions": the React snippets, verbatim, inside a component.
import { useAll, useDb, useSession } from "jazz-tools/react";
import { app } from "./app.js";

export function OwnedTodos() {
  const db = useDb();

  const session = useSession();
  const sessionUserId = session?.user_id ?? null;

  const ownedTodos =
    useAll(sessionUserId ? app.todos.where({ owner_id: sessionUserId }) : undefined) ?? [];

  function addOwnedTodo(title: string) {
    if (!sessionUserId) return;

    db.insert(app.todos, {
      title,
      done: false,
      owner_id: sessionUserId,
    });
  }

  return (
    <div>
      <ul>
        {ownedTodos.map((t) => (
          <li key={t.id}>{t.title}</li>
        ))}
      </ul>
      <button onClick={() => addOwnedTodo("new todo")}>add</button>
    </div>
  );
}
