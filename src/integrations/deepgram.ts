import { DeepgramClient } from '@deepgram/sdk';
import type { Config } from '../config.js';
import type { Logger } from '../core/logging.js';
import { ProviderUnavailable } from './failures.js';

// The only code that talks to Deepgram (@deepgram/sdk; DEEPGRAM_URL points it at another server,
// one base URL for REST and the live WebSocket). Prerecorded failures become 503
// TRANSCRIPTION_SERVICE_UNAVAILABLE; live failures are reported to the relay, which ends its session.

export interface Transcript {
  transcript: string;
  confidence: number;
  /** BCP 47: the language asked for, or the one Deepgram detected. */
  language: string;
  /** The audio's duration as Deepgram measured it: the basis of the charge. */
  durationSeconds: number;
}

export interface LiveResult {
  text: string;
  isFinal: boolean;
  confidence: number;
  /** Seconds of audio Deepgram has processed up to the end of this result. */
  audioEnd: number;
}

export interface LiveHandlers {
  onResult(r: LiveResult): void;
  /** The stream ended by itself before finish(): Deepgram failed or closed it. */
  onFailure(reason: string): void;
}

export interface LiveTranscription {
  sendAudio(chunk: Buffer): void;
  /**
   * Flushes: Deepgram sends its last final results and the total duration it received, then closes.
   * Resolves with that duration, or null when it does not arrive within `timeoutMs`.
   */
  finish(timeoutMs: number): Promise<number | null>;
  /** Drops the stream without waiting. */
  abort(): void;
}

export interface SpeechProvider {
  /** Throws the 503 naming DEEPGRAM_API_KEY when it is not set (every call below does too). */
  assertConfigured(): void;
  transcribe(audio: Buffer, opts: { language?: string }): Promise<Transcript>;
  /** Opens a live stream; rejects (503) when Deepgram cannot be reached. */
  openLive(handlers: LiveHandlers): Promise<LiveTranscription>;
}

export const transcriptionUnavailable = (message = 'The transcription service is unavailable; try again later'): ProviderUnavailable =>
  new ProviderUnavailable('transcription', message);

export function createSpeechProvider(config: Config, log: Logger): SpeechProvider {
  const client = config.DEEPGRAM_API_KEY
    ? new DeepgramClient({ apiKey: config.DEEPGRAM_API_KEY, ...(config.DEEPGRAM_URL ? { baseUrl: config.DEEPGRAM_URL } : {}) })
    : undefined;
  const require = (): DeepgramClient => {
    if (!client) throw transcriptionUnavailable('Transcription is not configured: set DEEPGRAM_API_KEY');
    return client;
  };

  return {
    assertConfigured() {
      require();
    },

    async transcribe(audio, opts) {
      const dg = require();
      let res: any;
      try {
        res = await dg.listen.v1.media.transcribeFile(
          audio,
          {
            model: config.DEEPGRAM_MODEL,
            smart_format: true,
            punctuate: true,
            ...(opts.language ? { language: opts.language } : { detect_language: true }),
          } as any,
          { timeoutInSeconds: config.DEEPGRAM_TIMEOUT_MS / 1000, maxRetries: 0 },
        );
      } catch (err) {
        log.warn({ err: { name: (err as Error).name, message: (err as Error).message, status: (err as { statusCode?: number }).statusCode } }, 'Deepgram transcription failed');
        throw transcriptionUnavailable();
      }
      const channel = res?.results?.channels?.[0];
      const best = channel?.alternatives?.[0];
      const duration = Number(res?.metadata?.duration);
      if (!best || typeof best.transcript !== 'string' || !Number.isFinite(duration) || duration < 0) {
        log.warn('Deepgram answered without a transcript or duration');
        throw transcriptionUnavailable();
      }
      return {
        transcript: best.transcript,
        confidence: Math.min(1, Math.max(0, Number(best.confidence) || 0)),
        language: opts.language ?? (typeof channel.detected_language === 'string' ? channel.detected_language : 'en'),
        durationSeconds: duration,
      };
    },

    async openLive(handlers) {
      const dg = require();
      let finishing = false;
      let settleFinish: ((duration: number | null) => void) | undefined;
      let metadataDuration: number | null = null;
      const conn = await dg.listen.v1.connect({
        model: config.DEEPGRAM_MODEL,
        interim_results: 'true',
        smart_format: 'true',
        punctuate: 'true',
        // a relay session is one stream; a reconnect would lose audio and double-count time
        reconnectAttempts: 0,
        connectionTimeoutInSeconds: 10,
      } as any);
      conn.on('message', (m: any) => {
        if (m?.type === 'Results') {
          const alt = m.channel?.alternatives?.[0];
          handlers.onResult({
            text: typeof alt?.transcript === 'string' ? alt.transcript : '',
            isFinal: m.is_final === true,
            confidence: Math.min(1, Math.max(0, Number(alt?.confidence) || 0)),
            audioEnd: (Number(m.start) || 0) + (Number(m.duration) || 0),
          });
        } else if (m?.type === 'Metadata' && Number.isFinite(Number(m.duration))) {
          metadataDuration = Number(m.duration);
        }
      });
      let failed = false;
      const fail = (reason: string) => {
        if (finishing || failed) return;
        failed = true;
        handlers.onFailure(reason);
      };
      conn.on('error', (e: Error) => fail(e.message));
      conn.on('close', (e: { code?: number; reason?: string }) => {
        if (finishing) settleFinish?.(metadataDuration);
        else fail(`Deepgram closed the stream (${e?.code ?? 'no code'}${e?.reason ? `: ${e.reason}` : ''})`);
      });
      conn.connect();
      try {
        await conn.waitForOpen();
      } catch (err) {
        failed = true;
        conn.close();
        log.warn({ err: { message: (err as Error).message } }, 'Deepgram live connection failed');
        throw transcriptionUnavailable();
      }
      return {
        sendAudio(chunk) {
          if (!finishing && !failed) conn.sendMedia(chunk);
        },
        finish(timeoutMs) {
          if (failed) return Promise.resolve(metadataDuration);
          finishing = true;
          return new Promise<number | null>((resolve) => {
            const timer = setTimeout(() => {
              conn.close();
              resolve(metadataDuration);
            }, timeoutMs);
            settleFinish = (d) => {
              clearTimeout(timer);
              resolve(d);
            };
            try {
              conn.sendCloseStream({ type: 'CloseStream' });
            } catch {
              clearTimeout(timer);
              conn.close();
              resolve(metadataDuration);
            }
          });
        },
        abort() {
          finishing = true;
          conn.close();
        },
      };
    },
  };
}
