import fs from 'node:fs';
import { parseEnv } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../src/config.js';
import { testKeyPair } from '../helpers/app.js';

describe('configuration', () => {
  it('documents every variable it reads in .env.example', () => {
    const documented = new Set(fs.readFileSync('.env.example', 'utf8').split('\n').map((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l)?.[1]).filter(Boolean));
    expect(CONFIG_VARIABLES.filter((v) => !documented.has(v))).toEqual([]);
  });

  it('starts in development with nothing set', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ NODE_ENV: 'development', PORT: 8000, HOST: '127.0.0.1', RATE_LIMIT_GENERAL: 100, devLoginEnabled: false });
  });

  it('reads an empty (or blank) value as unset, for every variable: the default applies', () => {
    const defaults = loadConfig({});
    for (const name of CONFIG_VARIABLES) {
      for (const empty of ['', '  ']) {
        const c = loadConfig({ [name]: empty });
        expect(c[name as keyof typeof c], `${name}=${JSON.stringify(empty)}`).toEqual(defaults[name as keyof typeof defaults]);
      }
    }
    expect(loadConfig({ NODE_ENV: 'development', AUTH_DEV_LOGIN: '' }).AUTH_DEV_LOGIN).toBe(false);
  });

  it('.env.example, copied to .env as the README says, sets exactly the defaults', () => {
    const example = parseEnv(fs.readFileSync('.env.example', 'utf8'));
    expect(loadConfig(example)).toEqual(loadConfig({}));
  });

  it('refuses a key id longer than the 256 characters the JWKS document allows', () => {
    expect(() => loadConfig({ JWT_KEY_ID: 'k'.repeat(257) })).toThrow(/JWT_KEY_ID/);
    expect(() => loadConfig({ JWT_PREVIOUS_KEY_ID: 'k'.repeat(257) })).toThrow(/JWT_PREVIOUS_KEY_ID/);
    expect(loadConfig({ JWT_KEY_ID: 'k'.repeat(256) }).JWT_KEY_ID).toHaveLength(256);
  });

  it('refuses to start in production without a database or signing keys', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://x/y' })).toThrow(/JWT_PRIVATE_KEY/);
  });

  it('refuses to start in production without PUBLIC_API_URL, the base of the links it hands out', () => {
    const keys = testKeyPair();
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://x/y', JWT_PRIVATE_KEY: keys.privatePem, JWT_PUBLIC_KEY: keys.publicPem };
    expect(() => loadConfig(production)).toThrow(/PUBLIC_API_URL/);
    expect(() => loadConfig({ ...production, PUBLIC_API_URL: '' })).toThrow(/PUBLIC_API_URL/);
    expect(() => loadConfig({ ...production, PUBLIC_API_URL: 'javascript:alert(1)//' })).toThrow(/PUBLIC_API_URL/);
    expect(loadConfig({ ...production, PUBLIC_API_URL: 'https://api.example.com/api/v1/' }).PUBLIC_API_URL).toBe('https://api.example.com/api/v1');
  });

  it('derives PUBLIC_API_URL from HOST and PORT in development', () => {
    expect(loadConfig({}).PUBLIC_API_URL).toBe('http://127.0.0.1:8000/api/v1');
    expect(loadConfig({ HOST: '0.0.0.0', PORT: '9000' }).PUBLIC_API_URL).toBe('http://127.0.0.1:9000/api/v1');
    expect(loadConfig({ HOST: '::1', PUBLIC_API_URL: '' }).PUBLIC_API_URL).toBe('http://[::1]:8000/api/v1');
  });

  it('never enables development sign-in in production', () => {
    const keys = testKeyPair();
    const c = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://x/y', JWT_PRIVATE_KEY: keys.privatePem, JWT_PUBLIC_KEY: keys.publicPem, PUBLIC_API_URL: 'https://api.example.com/api/v1', AUTH_DEV_LOGIN: 'true' });
    expect(c.devLoginEnabled).toBe(false);
  });

  it('names the variable that is wrong', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ RATE_LIMIT_STORE: 'redis' })).toThrow(/RATE_LIMIT_STORE/);
  });

  it('accepts PEM keys with escaped newlines, as env files carry them', () => {
    const keys = testKeyPair();
    const c = loadConfig({ JWT_PRIVATE_KEY: keys.privatePem.replace(/\n/g, '\\n'), JWT_PUBLIC_KEY: keys.publicPem.replace(/\n/g, '\\n') });
    expect(c.JWT_PRIVATE_KEY).toBe(keys.privatePem);
  });
});
