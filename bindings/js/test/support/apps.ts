import { schema as s } from "../../src/index.js";

/** The seed pages' todo app, with owner-only permissions. */
export const todoApp = s.defineApp({
  todos: s.table({ title: s.string(), done: s.boolean(), owner_id: s.string() }),
});

export const todoPermissions = s.definePermissions(todoApp, ({ policy, session }) => {
  policy.todos.allowRead.where({ owner_id: session.user_id });
  policy.todos.allowInsert.where({ owner_id: session.user_id });
  policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ owner_id: session.user_id });
  policy.todos.allowDelete.where({ owner_id: session.user_id });
});

/** Every column type and modifier; mirrors core/bundle/testdata/todo-app.json. */
export const fullApp = s.defineApp({
  lists: s.table({ name: s.string(), owner_id: s.string(), org: s.string().optional() }),
  todos: s.table({
    title: s.string(),
    done: s.boolean(),
    rank: s.int().optional(),
    weight: s.float().optional(),
    due: s.timestamp().optional(),
    meta: s.json<{ tags: string[] }>().optional(),
    body: s.string().optional().noIndex(),
    owner_id: s.string(),
    list: s.ref("lists"),
  }),
  audit: s.table({ msg: s.string() }),
});

export const fullPermissions = s.definePermissions(fullApp, ({ policy, session, allOf }) => {
  policy.lists.allowRead.where({ owner_id: session.user_id });
  policy.lists.allowRead.where({ org: session.claims.org.id });
  policy.lists.allowInsert.where({ owner_id: session.user_id });
  policy.todos.allowRead.where({ owner_id: session.user_id });
  policy.todos.allowRead.where(session.where({ authMode: "anonymous" }));
  policy.todos.allowInsert.where(allOf([{ owner_id: session.user_id }, { title: { isNull: false } }]));
  policy.todos.allowUpdate.whereOld({ owner_id: session.user_id }).whereNew({ $createdBy: session.user_id });
  policy.todos.allowDelete.where(session.claims.roles.contains("admin"));
  policy.audit.allowRead.always();
  policy.audit.allowInsert.never();
});
