import { notYet } from '../http/not-implemented.js';

// Issue #4: these operations are specified in openapi.yaml and answer 501 until built.

export const getCreditBalance = notYet('getCreditBalance', 4);
export const listCreditHistory = notYet('listCreditHistory', 4);
