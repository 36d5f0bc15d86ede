import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// The layers (README "How it is built"): transport (src/http, src/ws, src/handlers) → domain →
// database, with integrations as adapters and src/core shared by all. Each rule below names the
// direction it forbids.
const transport = { group: ['**/http/*', '**/handlers/*', '**/ws/*'], message: 'The domain and the integrations know no HTTP: throw a DomainError (src/core/errors.ts), take what you need as a parameter.' };
const domain = { group: ['**/domain/*', '**/domain/**/*'], message: 'An integration is an adapter: report a typed failure (src/integrations/failures.ts); the domain translates it.' };
// src/deps.ts is the composition root's container (it builds the HTTP metrics and rate limits): only the
// transport layer and the composition roots hold it; a use case receives what it uses instead.
const container = { group: ['**/deps', '**/deps.js', '**/app', '**/app.js', '**/main', '**/main.js'], message: 'A use case receives what it uses (db or transaction, clock, a port), not the AppDeps container; the composition root (src/app.ts, jobs/runner.ts) wires them.' };
// More than three parameters take one named object (README "How it is built").
const maxParams = { '@typescript-eslint/max-params': ['error', { max: 3 }] };
const database = { group: ['**/db/*', '**/db/**/*'], message: 'Handlers call domain functions; queries and row types live in src/domain/<area>.' };

export default tseslint.config(
  { ignores: ['node_modules/', 'codegen/', 'coverage/', '.data/', 'bench/results/', 'bench/.build/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', structuredClone: 'readonly', Headers: 'readonly', Response: 'readonly', Request: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Handlers stay thin: SQL belongs to the domain that owns the table.
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['src/handlers/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'kysely', message: 'Handlers call domain functions; queries live in src/domain/<area>.' }], patterns: [database] }],
    },
  },
  {
    files: ['src/domain/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [transport, container] }], ...maxParams },
  },
  {
    files: ['src/integrations/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [transport, domain, container] }], ...maxParams },
  },
  {
    files: ['src/**/*.ts', 'jobs/**/*.ts', 'db/**/*.ts', 'scripts/**/*.ts'],
    rules: maxParams,
  },
  {
    // No import cycles (type-only imports are erased at compile time and not counted by the rule).
    files: ['src/**/*.ts', 'jobs/**/*.ts', 'db/**/*.ts', 'scripts/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
);
