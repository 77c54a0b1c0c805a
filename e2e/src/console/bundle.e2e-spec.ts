import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT } from '../tools';

const DIST = join(ROOT, 'dist', 'apps', 'console');

/** The scripts index.html loads at once (its module script and what it preloads), as paths under dist. */
function firstLoadScripts(html: string): string[] {
  const srcs = [...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g), ...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => m[1] as string);
  return srcs.map((src) => src.replace(/^\/console\//, ''));
}

/** The console's build (nx build console): what a browser loads first, and how the HTML may be served under a strict CSP. */
describe('console bundle', () => {
  const html = readFileSync(join(DIST, 'index.html'), 'utf8');

  it('loads under 250 KB of JavaScript, compressed as served, on its first load', () => {
    const scripts = firstLoadScripts(html);
    expect(scripts.length).toBeGreaterThan(0);
    // What the command API sends a browser that accepts gzip: the build's .gz beside each file (brotli's .br is smaller still).
    const bytes = scripts.reduce((sum, file) => {
      const gz = readFileSync(join(DIST, `${file}.gz`));
      expect(gunzipSync(gz).equals(readFileSync(join(DIST, file)))).toBe(true);
      return sum + gz.length;
    }, 0);
    expect({ scripts, underBudget: bytes < 250 * 1024 }).toEqual({ scripts, underBudget: true });
  });

  it('has no inline script or style and no eval in its HTML (the CSP allows neither)', () => {
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style/);
    expect(html).not.toMatch(/\son[a-z]+="/);
    expect(html).not.toMatch(/style="/);
  });
});
