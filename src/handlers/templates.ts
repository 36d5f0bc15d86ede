import { notYet } from '../http/not-implemented.js';

// Issue #3: these operations are specified in openapi.yaml and answer 501 until built.

export const listTemplates = notYet('listTemplates', 3);
export const createTemplate = notYet('createTemplate', 3);
export const getTemplate = notYet('getTemplate', 3);
export const updateTemplate = notYet('updateTemplate', 3);
export const deleteTemplate = notYet('deleteTemplate', 3);
export const generateTemplateInstance = notYet('generateTemplateInstance', 3);
