import type { components } from '../../../codegen/api.js';
import type { TranscriptionDeps } from './ports.js';
import { invalidField, tierRequired } from '../../core/errors.js';
import { AudioDownloadError, downloadAudio } from '../../integrations/audio-download.js';
import type { Actor } from '../actor.js';
import { assertCanAfford, insufficientCredits } from '../credits/ledger.js';
import { effectiveLimits } from '../limits/effective-limits.js';
import { assertProviderConfigured } from '../provider-failures.js';
import { confirmAiRequest, paidAiRequest } from './charge.js';

type Transcription = components['schemas']['Transcription'];

/** Longest recording transcribed (FR-036). */
export const MAX_AUDIO_SECONDS = 300;
/** 300 s of uncompressed 48 kHz 16-bit mono is ~29 MB; anything larger is not a 5-minute voice note. */
const MAX_AUDIO_BYTES = 32 * 1_048_576;
const DOWNLOAD_TIMEOUT_MS = 20_000;

/** 5 credits (AI_CREDIT_TRANSCRIPTION_PER_MIN) per started minute: 45 s → 5, 90 s → 10, 300 s → 25. */
export const transcriptionCost = (seconds: number, perMinute: number): number => Math.ceil(seconds / 60) * perMinute;

export interface TranscribeInput {
  audio_url: string;
  language?: string;
}

/**
 * POST /ai/transcribe (Pro): downloads the recording itself (https, public addresses only), then
 * reserves what the longest recording (MAX_AUDIO_SECONDS) costs before Deepgram is asked — 402, and
 * no Deepgram call, when the balance cannot cover it — and settles at the duration Deepgram measured
 * (never a duration the client declares): that cost is kept, the rest refunded in the transaction
 * that records the result. A failure or a recording over the maximum refunds it all.
 */
export async function transcribeAudio(deps: TranscriptionDeps, actor: Actor, input: TranscribeInput): Promise<Transcription> {
  const { db, config } = deps;
  const limits = await effectiveLimits(db, actor.userId);
  if (!limits.voice) throw tierRequired(limits.tier, 'Transcription needs Pro');
  // A missing DEEPGRAM_API_KEY is a 503 before anything is downloaded.
  assertProviderConfigured(deps.speech);
  const perMinute = config.AI_CREDIT_TRANSCRIPTION_PER_MIN;
  // A cheap refusal before the download for a balance that cannot pay for any recording.
  await assertCanAfford(db, { userId: actor.userId, amount: perMinute, message: `Transcription needs at least ${perMinute} credits` });

  let audio: Buffer;
  try {
    audio = (
      await downloadAudio(input.audio_url, {
        allowLoopback: config.TRANSCRIBE_ALLOW_LOOPBACK,
        extraCa: config.TRANSCRIBE_EXTRA_CA_CERTS,
        maxBytes: MAX_AUDIO_BYTES,
        timeoutMs: DOWNLOAD_TIMEOUT_MS,
      })
    ).bytes;
  } catch (err) {
    if (err instanceof AudioDownloadError) throw invalidField('body.audio_url', err.message);
    throw err;
  }

  const reserved = transcriptionCost(MAX_AUDIO_SECONDS, perMinute);
  const requestId = actor.requestId ?? 'none';
  // no task, so no per-task counter and no session needed
  const charge = { actor, sessionId: '', credits: reserved, description: 'Transcription', operationRef: `transcription:${requestId}` };
  try {
    return await paidAiRequest(deps, { charge, refundDescription: 'Refund: transcription not completed' }, async (reservation) => {
      const result = await deps.speech.transcribe(audio, { language: input.language });
      const seconds = result.durationSeconds;
      if (seconds > MAX_AUDIO_SECONDS) throw invalidField('body.audio_url', `The recording is ${Math.round(seconds)} s long; at most ${MAX_AUDIO_SECONDS} s can be transcribed`);
      const cost = transcriptionCost(seconds, perMinute);
      const settled = await confirmAiRequest(
        db,
        {
          charge: {
            ...charge,
            activity: { entityId: requestId === 'none' ? actor.userId : requestId, action: 'ai_transcription', extra: { duration_seconds: seconds, language: result.language } },
          },
          reservation,
          settlement: { creditsUsed: cost, unusedDescription: `Refund: transcription of ${Math.round(seconds)} s cost ${cost} of ${reserved} credits reserved` },
        },
      );
      return {
        transcription: result.transcript,
        language: result.language,
        confidence: result.confidence,
        duration_seconds: seconds,
        credits_used: cost,
        credits_remaining: settled.balanceAfter,
      };
    });
  } catch (err) {
    // The reservation is the only charge here: its 402 names the reserved amount and why.
    const e = err as { code?: string; extras?: { credits_available?: number } };
    if (e.code !== 'INSUFFICIENT_CREDITS') throw err;
    const available = e.extras?.credits_available ?? 0;
    throw insufficientCredits(reserved, available, `Transcription reserves ${reserved} credits, the cost of the longest recording (${MAX_AUDIO_SECONDS} s), and returns what the recording does not use; you have ${available}`);
  }
}
