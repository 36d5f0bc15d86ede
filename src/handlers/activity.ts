import { notYet } from '../http/not-implemented.js';

// Issue #5: these operations are specified in openapi.yaml and answer 501 until built.

export const listActivity = notYet('listActivity', 5);
