import { notYet } from '../http/not-implemented.js';

// Issue #4: these operations are specified in openapi.yaml and answer 501 until built.

export const chatWithAssistant = notYet('chatWithAssistant', 4);
export const streamChatWithAssistant = notYet('streamChatWithAssistant', 4);
export const generateSubtasks = notYet('generateSubtasks', 4);
export const confirmAiAction = notYet('confirmAiAction', 4);
export const transcribeAudio = notYet('transcribeAudio', 4);
export const getAiCredits = notYet('getAiCredits', 4);
export const streamVoiceTranscription = notYet('streamVoiceTranscription', 4);
