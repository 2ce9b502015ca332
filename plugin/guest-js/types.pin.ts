// Not part of the package: makes `npm run typecheck` (tsconfig.pin.json) fail when the package's types
// and the page's (ui/types.js, which core/tests/page_types.rs pins against the Rust structs) part.

import type * as Page from '../../ui/types.js';
import type * as Guest from './types.js';

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const pinned: [
  Same<Guest.SessionSnapshot, Page.SessionSnapshot>,
  Same<Guest.SessionEvent, Page.SessionEvent>,
  Same<Guest.SignedOut, Page.SignedOut>,
  Same<Guest.SignInFinished, Page.SignInFinished>,
  Same<Guest.ErrorInfo, Page.ErrorInfo>,
] = [true, true, true, true, true];
export default pinned;
