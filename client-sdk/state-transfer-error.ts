// The typed error of a state transfer (guarantee 6, README: "The guarantees, in plain words"), on either side.

import { ChorusError } from '../src/errors.js';

/**
 * A state transfer did not complete. Codes:
 * - `ERR_NO_STATE_PROVIDER`: no member could provide the state; `join()` rejects with it
 *   (the daemon already removed the joiner from the group).
 * - `ERR_STATE_RESTARTED`: thrown by the state stream that `install()` is reading when its
 *   provider failed and another member provides the state again: `install()` is called
 *   once more with a new stream.
 * - `ERR_STATE_ABORTED`: the transfer stopped for good (the joiner was expelled, or the
 *   connection ended).
 * - `ERR_INSTALL_FAILED`: `install()` threw; `join()` rejects with it (its `cause` is what
 *   install threw) after the member left the group.
 */
export class StateTransferError extends ChorusError {}
