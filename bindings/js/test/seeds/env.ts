// Stand-ins for the app functions the seed snippets call; tests set them.
export const seedEnv = {
  storedJwt: null as string | null,
  freshJwt: async (): Promise<string | null> => null,
  signedOut: [] as (string | null)[],
};

export function readStoredJwt(): string | null {
  return seedEnv.storedJwt;
}
export function fetchFreshJwt(): Promise<string | null> {
  return seedEnv.freshJwt();
}
export function getFreshJwtForCurrentUser(): Promise<string | null> {
  return seedEnv.freshJwt();
}
export function setJwtToken(token: string | null): void {
  seedEnv.signedOut.push(token);
}
