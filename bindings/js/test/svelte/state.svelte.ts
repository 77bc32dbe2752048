/** A deeply reactive object that plain .ts tests can mutate. */
export function reactive<T extends object>(value: T): T {
  const state = $state(value);
  return state;
}
