import type { Database } from '../../../db/index.js';
import type { Config } from '../../config.js';
import type { Contract } from '../../core/contract.js';
import type { Logger } from '../../core/logging.js';
import type { SpeechProvider } from '../../integrations/deepgram.js';
import type { AiProvider } from '../../integrations/openai.js';

/**
 * What the AI use cases use, and nothing more: the database, the model behind its port, the log,
 * the contract's schemas (the provider's output is checked against them) and the prices. The
 * composition root's AppDeps satisfies it.
 */
export interface AiUseCaseDeps {
  db: Database;
  ai: AiProvider;
  log: Logger;
  contract: Contract;
  config: Pick<Config, 'AI_CREDIT_CHAT' | 'AI_CREDIT_CONVERSION' | 'AI_CREDIT_SUBTASK'>;
}

/** What a transcription uses: the database, the speech provider, the log, its price and download settings. */
export interface TranscriptionDeps {
  db: Database;
  speech: SpeechProvider;
  log: Logger;
  config: Pick<Config, 'AI_CREDIT_TRANSCRIPTION_PER_MIN' | 'TRANSCRIBE_ALLOW_LOOPBACK' | 'TRANSCRIBE_EXTRA_CA_CERTS'>;
}
