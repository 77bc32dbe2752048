// The one schema and permissions file of the example apps (React, Vue,
// Svelte), the dev issuer's backend route and the e2e tests.
//
//   npm run bundle -w shared   ->  shared/bundle.json (jazz-tools-bundle)
//
// which `jazz-tools server ... --bundle shared/bundle.json` publishes.
import { schema as s } from "jazz-tools";

export const app = s.defineApp({
  // Owner-scoped todos. `public: true` ones are also readable by everyone,
  // anonymous visitors included.
  todos: s.table({
    title: s.string(),
    done: s.boolean(),
    owner_id: s.string(),
    public: s.boolean(),
  }),
  // Written only by the issuer's backend route (POST /api/announce), which
  // stamps the signed-in user as author with withAttribution(...).
  announcements: s.table({
    text: s.string(),
  }),
  // Projects shared with teammates: the owner shares a project with a user
  // by adding a projectShares row; the project's todos are readable and
  // writable by whoever may read the project, so a revoke hides them too.
  projects: s.table({
    name: s.string(),
    owner_id: s.string(),
  }),
  projectShares: s.table({
    projectId: s.ref("projects"), // projectShares.project, projects.projectSharesViaProject
    user_id: s.string(),
  }),
  projectTodos: s.table({
    title: s.string(),
    done: s.boolean(),
    projectId: s.ref("projects"), // projectTodos.project, projects.projectTodosViaProject
  }),
});

export const permissions = s.definePermissions(app, ({ policy, session, anyOf, allowedTo }) => {
  // Owners read, insert, update and delete their own todos.
  policy.todos.allowRead.where(anyOf({ owner_id: session.user_id }, { public: true }));
  policy.todos.allowInsert.where({ owner_id: session.user_id });
  policy.todos.allowUpdate.where({ owner_id: session.user_id });
  policy.todos.allowDelete.where({ owner_id: session.user_id });
  // Anyone reads announcements; no client writes them (backend only).
  policy.announcements.allowRead.always();

  // A project: read by its owner and by everyone it is shared with; written by its owner.
  policy.projects.allowRead.where((project) =>
    anyOf([{ owner_id: session.user_id }, policy.projectShares.exists.where({ projectId: project.id, user_id: session.user_id })]),
  );
  policy.projects.allowInsert.where({ owner_id: session.user_id });
  policy.projects.allowUpdate.where({ owner_id: session.user_id });
  policy.projects.allowDelete.where({ owner_id: session.user_id });
  // A share: read by the user it names and by whoever may update its project
  // (the owner), who alone adds and revokes shares.
  policy.projectShares.allowRead.where(anyOf([{ user_id: session.user_id }, allowedTo.update("project")]));
  policy.projectShares.allowInsert.where(allowedTo.update("project"));
  policy.projectShares.allowDelete.where(allowedTo.update("project"));
  // A project's todos: read and written by whoever may read the project.
  policy.projectTodos.allowRead.where(allowedTo.read("project"));
  policy.projectTodos.allowInsert.where(allowedTo.read("project"));
  policy.projectTodos.allowUpdate.where(allowedTo.read("project"));
  policy.projectTodos.allowDelete.where(allowedTo.read("project"));
});
