import { IsOptional } from 'class-validator';
import { ConfigError, validateConfig } from './config';
import { corsOrigins, IsCorsOriginList } from './cors';

class CorsConfig {
  @IsOptional()
  @IsCorsOriginList()
  CORS_ALLOWED_ORIGINS?: string;
}

function load(value: string | undefined): CorsConfig {
  return validateConfig(CorsConfig, { CORS_ALLOWED_ORIGINS: value });
}

function refusal(value: string): string {
  try {
    load(value);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`${value} was accepted`);
}

describe('CORS_ALLOWED_ORIGINS', () => {
  it('is optional: unset or empty, no origin', () => {
    expect(corsOrigins(load(undefined).CORS_ALLOWED_ORIGINS)).toEqual([]);
    expect(corsOrigins(load('').CORS_ALLOWED_ORIGINS)).toEqual([]);
  });

  it('takes exact origins separated by commas, blanks and repeats ignored', () => {
    const config = load(' http://127.0.0.1:3000, http://localhost:3000,https://console.example.com,,http://localhost:3000 ');
    expect(corsOrigins(config.CORS_ALLOWED_ORIGINS)).toEqual(['http://127.0.0.1:3000', 'http://localhost:3000', 'https://console.example.com']);
    expect(corsOrigins(load('http://[::1]:3000').CORS_ALLOWED_ORIGINS)).toEqual(['http://[::1]:3000']);
  });

  it.each(['*', 'null', 'NULL', 'http://localhost:3000,*'])('refuses %s: never a wildcard', (value) => {
    expect(refusal(value)).toBe(
      'CORS_ALLOWED_ORIGINS is invalid: expected exact origins such as http://127.0.0.1:3000,http://localhost:3000, never a wildcard (* or null)',
    );
  });

  it('refuses a wildcard host', () => {
    expect(refusal('https://*.example.com')).toMatch(/^CORS_ALLOWED_ORIGINS is invalid: entry 1 is not an origin: .*never a wildcard$/);
  });

  it.each(['http://localhost:3000/', 'http://localhost:3000/console', 'http://localhost:3000?x=1', 'http://localhost:3000#top', 'http://user@localhost:3000'])(
    'refuses %s: an origin has no path, query, fragment or user',
    (value) => {
      expect(refusal(`http://127.0.0.1:3000,${value}`)).toBe(
        'CORS_ALLOWED_ORIGINS is invalid: entry 2 is not an origin: expected scheme://host[:port] without user, path, query or fragment (no trailing slash)',
      );
    },
  );

  it.each(['ftp://localhost:3000', 'file:///tmp', 'chrome-extension://abc'])('refuses %s: http or https only', (value) => {
    expect(refusal(value)).toBe('CORS_ALLOWED_ORIGINS is invalid: entry 1 is not an origin: expected the scheme http or https');
  });

  it.each(['localhost:3000', '127.0.0.1'])('refuses %s: no scheme', (value) => {
    expect(refusal(value)).toMatch(/^CORS_ALLOWED_ORIGINS is invalid: entry 1 is not an origin: expected (scheme:\/\/host\[:port\]|the scheme http or https)/);
  });

  it.each(['http://LOCALHOST:3000', 'http://localhost:80', 'https://example.com:443'])('refuses %s: not as a browser sends it', (value) => {
    expect(refusal(value)).toBe('CORS_ALLOWED_ORIGINS is invalid: entry 1 is not written as a browser sends it: expected lower case, without the default port');
  });

  it('never echoes the value', () => {
    expect(refusal('http://secret-host.example.com/path')).not.toContain('secret-host');
  });
});
