/** An error the issuer answers with `status` and `{error: message}`. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
