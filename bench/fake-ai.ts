import { startFakeOpenAI } from '../tests/fakes/openai.js';

// The tests' fake OpenAI-compatible provider, as its own process for the benchmark. It answers every
// chat after FAKE_AI_DELAY_MS (a provider is never instant; the delay keeps the 500 calls truly
// concurrent) and prints `fake-ai <baseUrl> <apiKey>` when ready.

const fake = await startFakeOpenAI('sk-bench-fake');
fake.answer({ content: 'Start with the smallest task, then the one due first.', delayMs: Number(process.env.FAKE_AI_DELAY_MS ?? 200) });
// The fake keeps every request body for tests to read; the benchmark does not, and must not grow.
setInterval(() => (fake.requests.length = 0), 1_000).unref();
console.log(`fake-ai ${fake.baseUrl} ${fake.apiKey}`);
const shutdown = () => void fake.close().then(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
