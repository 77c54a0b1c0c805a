import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, validateConfig } from '@tm/platform';
import { CommandApiConfig } from '../config';
import { contentSecurityPolicy } from './console-site';
import { consoleSiteOptions } from './console.module';

const REQUIRED = { DATABASE_URL: 'postgres://tm@127.0.0.1:5432/tm', REDIS_URL: 'redis://127.0.0.1:6379', KAFKA_BROKERS: '127.0.0.1:9092' };

function load(env: Record<string, string>): CommandApiConfig {
  return validateConfig(CommandApiConfig, { ...REQUIRED, ...env });
}

function refusal(env: Record<string, string>): string {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe('the console configuration', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tm-console-config-'));
    mkdirSync(join(dir, 'built'));
    writeFileSync(join(dir, 'built', 'index.html'), '<!doctype html>');
    mkdirSync(join(dir, 'empty'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes a CONSOLE_DIR that holds index.html', () => {
    const config = load({ CONSOLE_DIR: join(dir, 'built') });
    expect(consoleSiteOptions(config)).toMatchObject({ dir: join(dir, 'built') });
  });

  it.each(['empty', 'missing', 'built/index.html'])('refuses a CONSOLE_DIR without index.html (%s) in one line', (sub) => {
    const message = refusal({ CONSOLE_DIR: join(dir, sub) });
    expect(message).toBe(
      'CONSOLE_DIR is invalid: expected a readable folder holding the built console (its index.html), such as dist/apps/command-api/console; unset: the console beside main.js, when built',
    );
    expect(message).not.toContain('\n');
  });

  it('unset, looks beside the code and turns the console off when it is not there (tests run from source)', () => {
    const options = consoleSiteOptions(load({}));
    expect(options.dir).toBeUndefined();
    expect(options.looked).toMatch(/console$/);
  });

  it.each(['http://127.0.0.1:3001', 'https://resolver.example.com/', 'https://example.com/resolver'])('takes CONSOLE_RESOLVER_URL %s', (url) => {
    expect(load({ CONSOLE_RESOLVER_URL: url }).CONSOLE_RESOLVER_URL).toBe(url);
  });

  it.each(['127.0.0.1:3001', 'ftp://example.com', 'http://user:pw@example.com', 'http://example.com/?x=1'])('refuses CONSOLE_RESOLVER_URL %s', (url) => {
    expect(refusal({ CONSOLE_RESOLVER_URL: url })).toMatch(/^CONSOLE_RESOLVER_URL is invalid: expected the http:\/\/ or https:\/\/ URL at which a browser reaches the resolver/);
  });

  it("allows calls to the resolver's origin in the Content-Security-Policy, and nothing inline or evaluated", () => {
    expect(contentSecurityPolicy('https://example.com/resolver')).toContain("connect-src 'self' https://example.com;");
    expect(contentSecurityPolicy(undefined)).toContain("connect-src 'self';");
    expect(contentSecurityPolicy(undefined)).not.toMatch(/unsafe/);
  });
});
