/**
 * The one error type of the domain: a kernel errno name, a human detail, and optional extension
 * members for the problem body (for example `blockedBy` with EBUSY, `entriesProcessed` with
 * partial invalidation). Routes turn it into application/problem+json; they never pick a status.
 */
export type Errno =
  | 'EINVAL'
  | 'E2BIG'
  | 'EOVERFLOW'
  | 'ERANGE'
  | 'EPERM'
  | 'ENOENT'
  | 'EEXIST'
  | 'EBUSY'
  | 'ENOSPC'
  | 'ENOMEM'
  | 'EOPNOTSUPP'
  | 'EIO'
  | 'EFAULT'
  | 'EUNAUTHENTICATED'
  /** Idempotency-Key reused with another request (method, path or body): IETF draft, 422. */
  | 'EIDEMPOTENCY_MISMATCH'
  /** Idempotency-Key of a request still being processed: IETF draft, 409. */
  | 'EIDEMPOTENCY_BUSY';

/** api.md "Conventions": status per errno. */
export const ERRNO_STATUS: Record<Errno, number> = {
  EINVAL: 400,
  E2BIG: 400,
  EOVERFLOW: 400,
  ERANGE: 400,
  EPERM: 403,
  ENOENT: 404,
  EEXIST: 409,
  EBUSY: 409,
  ENOSPC: 409,
  ENOMEM: 507,
  EOPNOTSUPP: 422,
  EIO: 422,
  EFAULT: 422,
  EUNAUTHENTICATED: 401,
  EIDEMPOTENCY_MISMATCH: 422,
  EIDEMPOTENCY_BUSY: 409,
};

export class IommufdError extends Error {
  readonly errno: Errno;
  readonly extensions: Record<string, unknown>;

  constructor(errno: Errno, detail: string, extensions: Record<string, unknown> = {}) {
    super(detail);
    this.name = 'IommufdError';
    this.errno = errno;
    this.extensions = extensions;
  }

  get status(): number {
    return ERRNO_STATUS[this.errno];
  }
}

export function fail(errno: Errno, detail: string, extensions?: Record<string, unknown>): never {
  throw new IommufdError(errno, detail, extensions);
}
