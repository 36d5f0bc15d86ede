import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { components } from '../../codegen/api.js';
import type { AppDeps } from '../deps.js';
import { hasActiveVoiceSession, openVoiceSession, payVoiceMinute, settleVoiceSession, VOICE_SESSION_ACTIVE_MESSAGE, VoiceSessionActive, type VoiceCharge } from '../domain/ai/voice-sessions.js';
import { verifyAccessToken, type AuthContext } from '../domain/auth/access-tokens.js';
import { creditBalance } from '../domain/credits/ledger.js';
import { effectiveLimits } from '../domain/limits/effective-limits.js';
import { assertProviderConfigured } from '../domain/provider-failures.js';
import { AppError, DomainError, sessionEnded, statusOf, tierRequired, unauthorized } from '../http/errors.js';
import { writeRawError } from '../http/refusals.js';
import type { LiveTranscription } from '../integrations/deepgram.js';
import type { VoiceEndReason } from '../../db/schema/index.js';

// The live transcription relay at /api/v1/ws/voice/transcribe (contract: streamVoiceTranscription).
// The client streams audio frames; they are relayed to Deepgram live and the transcripts relayed
// back. The audio duration is what Deepgram measured of the audio relayed (the client cannot
// declare it). Each started minute of it is paid when it starts (the first before `connected`),
// under the credits lock (src/domain/ai/voice-sessions.ts); a minute that cannot be paid stops the
// relay. One session per user at a time.

type VoiceServerMessage = components['schemas']['VoiceServerMessage'];
type VoiceErrorCode = components['schemas']['VoiceErrorMessage']['code'];

export const VOICE_PATH = '/api/v1/ws/voice/transcribe';
const MAX_FRAME_BYTES = 32 * 1024;
const AUTH_TIMEOUT_MS = 5_000;
const PING_INTERVAL_MS = 30_000;
/** How long the end of a session waits for Deepgram's last results and its measured duration. */
const FLUSH_TIMEOUT_MS = 5_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface VoiceRelay {
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends every open session (charging what was relayed) and stops accepting new ones. */
  close(): Promise<void>;
}

/** An HTTP answer on a socket that asked to upgrade: the error envelope, then the socket closes. */
export function rejectUpgrade(socket: Duplex, err: DomainError, requestId: string): void {
  writeRawError(socket, err, requestId);
}

export function createVoiceRelay(deps: AppDeps): VoiceRelay {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  const sessions = new Set<VoiceSession>();
  let closing = false;

  return {
    handleUpgrade(req, socket, head) {
      const incoming = req.headers['x-request-id'];
      const requestId = typeof incoming === 'string' && UUID.test(incoming) ? incoming.toLowerCase() : randomUUID();
      const token = new URL(req.url ?? '/', 'http://relay').searchParams.get('token');
      const reject = (err: DomainError) => {
        deps.log.info({ request_id: requestId, operation: 'streamVoiceTranscription', status: statusOf(err), error_code: err.code }, 'voice upgrade refused');
        rejectUpgrade(socket, err, requestId);
      };
      socket.on('error', () => {});
      void (async () => {
        if (closing) return reject(new AppError('TRANSCRIPTION_SERVICE_UNAVAILABLE', 'The server is shutting down'));
        try {
          assertProviderConfigured(deps.speech);
        } catch (err) {
          return reject(err as DomainError);
        }
        let auth: AuthContext | undefined;
        if (token !== null) {
          // Checked before the upgrade, as plain HTTP answers.
          try {
            auth = await admit(deps, token);
          } catch (err) {
            if (err instanceof DomainError) return reject(err);
            deps.log.error({ err, request_id: requestId }, 'voice upgrade failed');
            return reject(new AppError('INTERNAL_ERROR', 'An unexpected error occurred'));
          }
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          const session = new VoiceSession(deps, ws, { requestId, onGone: () => sessions.delete(session) });
          sessions.add(session);
          if (auth) void session.start(auth);
          else session.awaitAuthMessage();
        });
      })();
    },
    async close() {
      closing = true;
      await Promise.all([...sessions].map((s) => s.shutdown()));
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Token, tier and rate limit: what lets a user open a session (401/403/429 otherwise). */
async function admit(deps: AppDeps, token: string): Promise<AuthContext> {
  const auth = verifyAccessToken(deps.tokens.keys, deps.tokens.access, token);
  if (!(await deps.liveSessions.isLive(auth.sessionId))) throw sessionEnded();
  let limits;
  try {
    limits = await effectiveLimits(deps.db, auth.userId);
  } catch {
    throw unauthorized('The account no longer exists');
  }
  if (!limits.voice) throw tierRequired(limits.tier, 'Live transcription needs Pro');
  // The session counts as one request against the user's AI rate limit (429 when used up).
  await deps.rateLimits.consume('ai', `user:${auth.userId}`);
  return auth;
}

type State = 'authenticating' | 'starting' | 'streaming' | 'ending' | 'ended';

/** Audio frames held back while a started minute is being paid (~5–10 s of audio); more are dropped. */
const MAX_HELD_FRAMES = 64;

class VoiceSession {
  private state: State = 'authenticating';
  private userId = '';
  private sessionId = '';
  private live?: LiveTranscription;
  /** Seconds of relayed audio Deepgram has reported on so far. */
  private audioSeconds = 0;
  /** The ledger entries of the minutes paid: the first before `connected`, each next one when it starts. */
  private paidMinutes: string[] = [];
  /** A started minute could not be paid: nothing more is relayed or charged. */
  private unpaid = false;
  /** Minute payments, one after the other. */
  private paying: Promise<void> = Promise.resolve();
  /** Audio that arrived while a started minute was being paid: relayed once it is paid, dropped if not. */
  private held: Buffer[] | null = null;
  private finals: string[] = [];
  private timers: NodeJS.Timeout[] = [];
  /** Authentication and opening, until the session streams or is refused. */
  private starting?: Promise<void>;
  private ended?: Promise<void>;
  private readonly max: number;
  private readonly perMinute: number;

  private readonly requestId: string;
  private readonly onGone: () => void;

  constructor(
    private readonly deps: AppDeps,
    private readonly ws: WebSocket,
    session: { requestId: string; onGone: () => void },
  ) {
    this.requestId = session.requestId;
    this.onGone = session.onGone;
    this.max = deps.config.VOICE_MAX_DURATION_SECONDS;
    this.perMinute = deps.config.AI_CREDIT_TRANSCRIPTION_PER_MIN;
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onClientGone());
    // Oversized frames (1009) and protocol errors: the close that follows ends the session.
    ws.on('error', (err) => deps.log.debug({ err: { message: err.message }, request_id: session.requestId }, 'voice socket error'));
    this.timers.push(setInterval(() => ws.readyState === ws.OPEN && ws.ping(), PING_INTERVAL_MS));
  }

  private get charge(): VoiceCharge {
    return { userId: this.userId, perMinute: this.perMinute, maxDurationSeconds: this.max };
  }

  awaitAuthMessage(): void {
    this.timers.push(setTimeout(() => this.state === 'authenticating' && this.refuse('UNAUTHORIZED', 'Send {"type":"auth","token":…} within 5 seconds'), AUTH_TIMEOUT_MS));
  }

  /** After authentication: opens the session (see open). */
  start(auth: AuthContext): Promise<void> {
    this.starting = this.open(auth);
    return this.starting;
  }

  /** Checks the balance and that no other session runs, opens Deepgram, pays the first minute and says `connected`. */
  private async open(auth: AuthContext): Promise<void> {
    if (this.state === 'ended') return;
    if (this.ws.readyState !== this.ws.OPEN) {
      this.state = 'ended';
      return;
    }
    this.state = 'starting';
    this.userId = auth.userId;
    const { db, config } = this.deps;
    try {
      // Cheap refusals before Deepgram is opened; openVoiceSession checks both again, race-free.
      const balance = (await creditBalance(db, auth.userId)).total;
      if (balance < this.perMinute) return this.refuse('INSUFFICIENT_CREDITS', `Live transcription needs at least ${this.perMinute} credits; you have ${balance}`);
      if (await hasActiveVoiceSession(db, this.charge)) return this.refuse('VOICE_SESSION_ACTIVE', VOICE_SESSION_ACTIVE_MESSAGE);
      let live: LiveTranscription;
      try {
        live = await this.deps.speech.openLive({ onResult: (r) => this.onResult(r), onFailure: (why) => this.onProviderFailure(why) });
      } catch {
        return this.refuse('TRANSCRIPTION_FAILED', 'The transcription service is unavailable; nothing was charged', 1011);
      }
      // The client may have left (or the session been refused) while Deepgram was being opened.
      if (this.state !== 'starting' || this.ws.readyState !== this.ws.OPEN) {
        live.abort();
        this.state = 'ended';
        return;
      }
      let opened;
      try {
        opened = await openVoiceSession(db, this.charge);
      } catch (err) {
        live.abort();
        if (err instanceof VoiceSessionActive || (err instanceof DomainError && err.code === 'INSUFFICIENT_CREDITS')) return this.refuse(err.code as VoiceErrorCode, err.message);
        throw err;
      }
      this.live = live;
      this.sessionId = opened.sessionId;
      this.paidMinutes = [opened.minuteEntryId];
      this.state = 'streaming';
      // The client left while the session was being written: it ends with no audio, so nothing is charged.
      if (this.ws.readyState !== this.ws.OPEN) return void this.finish('disconnected');
      this.send({ type: 'connected', session_id: opened.sessionId, max_duration_seconds: config.VOICE_MAX_DURATION_SECONDS });
      // A client streaming slower than real time cannot hold the relay open forever.
      this.timers.push(setTimeout(() => void this.finish('max_duration', ['MAX_DURATION_EXCEEDED', `The ${this.max}-second limit was reached; transcription stopped`]), this.max * 2000));
    } catch (err) {
      this.deps.log.error({ err, request_id: this.requestId }, 'voice session failed to start');
      this.refuse('TRANSCRIPTION_FAILED', 'The session could not be started; nothing was charged', 1011);
    }
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.state === 'authenticating') {
      const msg = isBinary ? undefined : parse(data);
      if (msg?.type !== 'auth' || typeof msg.token !== 'string' || !msg.token) return this.refuse('UNAUTHORIZED', 'The first message must be {"type":"auth","token":…}');
      this.state = 'starting';
      this.starting = admit(this.deps, msg.token).then(
        (auth) => this.open(auth),
        (err) => {
          const e = err instanceof DomainError ? err : undefined;
          if (!e) this.deps.log.error({ err, request_id: this.requestId }, 'voice authentication failed');
          const code: VoiceErrorCode = e?.code === 'TIER_REQUIRED' ? 'TIER_REQUIRED' : e?.code === 'RATE_LIMIT_EXCEEDED' ? 'RATE_LIMIT_EXCEEDED' : 'UNAUTHORIZED';
          this.refuse(code, e?.message ?? 'Authentication failed');
        },
      );
      return;
    }
    if (isBinary) {
      // Audio before `connected` (or after the end) is discarded and never charged.
      const frame = data as Buffer;
      if (this.state !== 'streaming' || frame.length === 0) return;
      if (!this.held) this.live!.sendAudio(frame);
      else if (this.held.length < MAX_HELD_FRAMES) this.held.push(frame);
      return;
    }
    const msg = parse(data);
    if (msg?.type === 'end_stream' && this.state === 'streaming') void this.finish('end_stream');
  }

  private onResult(r: { text: string; isFinal: boolean; confidence: number; audioEnd: number }): void {
    this.audioSeconds = Math.max(this.audioSeconds, r.audioEnd);
    if (r.text) {
      if (r.isFinal) this.finals.push(r.text);
      this.send({ type: 'transcript', text: r.text, is_final: r.isFinal, confidence: r.confidence });
    }
    if (this.state !== 'streaming') return;
    if (this.audioSeconds >= this.max) {
      void this.finish('max_duration', ['MAX_DURATION_EXCEEDED', `The ${this.max}-second limit was reached; transcription stopped`]);
      return;
    }
    void this.payStartedMinutes();
  }

  /** Started minutes of the audio relayed so far (the maximum duration's at most). */
  private startedMinutes(): number {
    return Math.ceil(Math.min(this.audioSeconds, this.max) / 60);
  }

  /**
   * Pays every started minute not paid yet, one at a time, holding audio back meanwhile. A minute
   * that cannot be paid stops the session (INSUFFICIENT_CREDITS): its held audio is dropped and
   * nothing more is relayed or charged.
   */
  private payStartedMinutes(): Promise<void> {
    if (this.unpaid || this.startedMinutes() <= this.paidMinutes.length) return this.paying;
    this.held ??= [];
    this.paying = this.paying
      .then(async () => {
        while (!this.unpaid && this.startedMinutes() > this.paidMinutes.length) {
          try {
            this.paidMinutes.push(await payVoiceMinute(this.deps.db, this.charge, this.sessionId));
          } catch (err) {
            this.unpaid = true;
            this.held = null;
            if (err instanceof DomainError && err.code === 'INSUFFICIENT_CREDITS') {
              if (this.state === 'streaming') void this.finish('insufficient_credits', ['INSUFFICIENT_CREDITS', 'Your credits do not cover another minute; transcription stopped']);
            } else {
              this.deps.log.error({ err, request_id: this.requestId, session_id: this.sessionId }, 'voice minute could not be charged');
              if (this.state === 'streaming') void this.finish('provider_failed', ['TRANSCRIPTION_FAILED', 'The next minute could not be charged; transcription stopped'], 1011);
            }
          }
        }
        const held = this.held ?? [];
        this.held = null;
        for (const frame of held) this.live!.sendAudio(frame);
      })
      .catch((err: unknown) => this.deps.log.error({ err, request_id: this.requestId, session_id: this.sessionId }, 'voice minute payment failed'));
    return this.paying;
  }

  private onProviderFailure(why: string): void {
    this.deps.log.warn({ request_id: this.requestId, session_id: this.sessionId, why }, 'Deepgram live stream failed');
    if (this.state === 'streaming') void this.finish('provider_failed', ['TRANSCRIPTION_FAILED', 'The transcription service failed; the transcript so far is kept'], 1011);
  }

  private onClientGone(): void {
    if (this.state === 'streaming') void this.finish('disconnected');
    else if (this.state !== 'ending') this.cleanup();
  }

  /** Server shutdown: end the session like any other, charging what was relayed. */
  async shutdown(): Promise<void> {
    // A session being opened may have paid its first minute already: it is ended once open.
    if (this.state === 'starting') await this.starting;
    if (this.state === 'streaming') return this.finish('server_shutdown', undefined, 1001);
    if (this.state !== 'ending' && this.state !== 'ended') this.refuse('TRANSCRIPTION_FAILED', 'The server is shutting down', 1001);
    return this.ended ?? Promise.resolve();
  }

  /**
   * Ends a running session: relays audio held for a minute being paid (if it was paid), flushes
   * Deepgram for the last results and its measured duration, pays a minute those show started (if
   * the balance covers it), settles — charging nothing more, returning an unused first minute — and
   * tells the client with `complete` if it is still there.
   */
  private finish(reason: VoiceEndReason, error?: [VoiceErrorCode, string], closeCode = 1000): Promise<void> {
    if (this.state !== 'streaming') return this.ended ?? Promise.resolve();
    this.state = 'ending';
    this.ended = (async () => {
      if (error) this.send({ type: 'error', code: error[0], message: error[1] });
      await this.paying;
      const measured = reason === 'provider_failed' ? null : await this.live!.finish(FLUSH_TIMEOUT_MS);
      if (reason === 'provider_failed') this.live!.abort();
      this.audioSeconds = Math.min(this.max, Math.max(measured ?? 0, this.audioSeconds));
      await this.payStartedMinutes();
      const seconds = this.audioSeconds;
      try {
        const { creditsUsed, remaining } = await settleVoiceSession(this.deps.db, this.charge, {
          sessionId: this.sessionId,
          reason,
          seconds,
          transcript: this.finals.join(' '),
          paidMinutes: this.paidMinutes,
          requestId: this.requestId,
        });
        this.send({ type: 'complete', full_transcript: this.finals.join(' '), duration_seconds: Math.round(seconds * 1000) / 1000, credits_used: creditsUsed, credits_remaining: remaining });
        this.deps.log.info({ request_id: this.requestId, user_id: this.userId, session_id: this.sessionId, reason, duration_seconds: seconds, credits_used: creditsUsed }, 'voice session ended');
      } catch (err) {
        this.deps.log.error({ err, request_id: this.requestId, session_id: this.sessionId }, 'voice session could not be settled');
        closeCode = 1011;
      }
      if (this.ws.readyState === this.ws.OPEN) this.ws.close(closeCode);
      this.state = 'ended';
      this.cleanup();
    })();
    return this.ended;
  }

  /** Ends a session that never started streaming: nothing relayed, nothing charged. */
  private refuse(code: VoiceErrorCode, message: string, closeCode = 1008): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.send({ type: 'error', code, message });
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(closeCode);
    this.cleanup();
  }

  private send(msg: VoiceServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private cleanup(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.onGone();
  }
}

function parse(data: RawData): { type?: unknown; token?: unknown } | undefined {
  try {
    const v = JSON.parse(String(data));
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

