import { forbidden } from '../../core/errors.js';

/**
 * Routes under /users/{user_id} (the production frontend's hooks) serve the caller's own id only.
 * Any other id is a 403 whether or not such a user exists, so the answer reveals no account.
 */
export function assertOwnUser(callerId: string, userId: string): void {
  if (userId.toLowerCase() !== callerId.toLowerCase()) throw forbidden('Only your own data can be read here');
}
