// `npm run mock:check`: starts `prism mock openapi.yaml` on 127.0.0.1, calls every operation with
// the contract's examples and validates each answer against the contract (documented status, body
// valid against its schema), then sends requests the server refuses and checks that the mock
// answers them as the server does (400 VALIDATION_ERROR, not 422). Prints one line per call; exits
// 1 when any answer is wrong.
import { callEveryOperation, callInvalidRequests, startPrism } from '../tests/helpers/prism.js';

const prism = await startPrism('mock');
let failed = 0;
try {
  const results = await callEveryOperation(prism.baseUrl);
  for (const r of results) {
    if (r.problem) failed++;
    console.log(`${r.problem ? 'FAIL' : 'ok  '} ${String(r.status ?? '---')} ${r.method.padEnd(6)} ${r.path} (${r.operationId})${r.problem ? `\n     ${r.problem}` : ''}`);
  }
  console.log(`\n${results.length - failed} of ${results.length} operations answered by prism mock are valid against openapi.yaml\n`);
  const invalid = await callInvalidRequests(prism.baseUrl);
  const wrong = invalid.filter((r) => r.problem).length;
  for (const r of invalid) console.log(`${r.problem ? 'FAIL' : 'ok  '} ${r.status} ${r.code ?? '-'}: ${r.name}${r.problem ? `\n     ${r.problem}` : ''}`);
  console.log(`\n${invalid.length - wrong} of ${invalid.length} invalid requests answered as the server answers them`);
  failed += wrong;
} catch (err) {
  failed++;
  console.error(err);
} finally {
  await prism.stop();
}
process.exit(failed ? 1 : 0);
