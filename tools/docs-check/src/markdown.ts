import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The repository's root (this file is tools/docs-check/src/markdown.ts). */
export const repoRoot = join(__dirname, '..', '..', '..');

/** README.md and every page under docs/, as paths relative to the repository. */
export function markdownFiles(): string[] {
  const pages: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) pages.push(path);
    }
  };
  if (existsSync(join(repoRoot, 'docs'))) walk('docs');
  return ['README.md', ...pages.sort()];
}

export function readPage(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/** The page's lines with fenced code blocks blanked (a `# comment` in a shell block is no heading). */
export function proseLines(text: string): string[] {
  let fence: string | undefined;
  return text.split('\n').map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined && (fence === undefined || marker.startsWith(fence))) {
      fence = fence === undefined ? marker : undefined;
      return '';
    }
    return fence === undefined ? line : '';
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a page's headings, numbered as GitHub numbers repeated ones (`x`, `x-1`, ...). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of proseLines(text)) {
    const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    result.add(n === 0 ? base : `${base}-${n}`);
  }
  return result;
}

export interface Link {
  line: number;
  target: string;
}

/** Inline links and images outside code (`[text](target)`, `![alt](target)`). */
export function links(text: string): Link[] {
  const found: Link[] = [];
  proseLines(text).forEach((line, i) => {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      found.push({ line: i + 1, target: m[1] as string });
    }
  });
  return found;
}

/** A link to something other than a file of this repository (a scheme such as `https:` or `mailto:`). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

/** An external link the pages may carry: the apps on this machine. */
export function isLocalhost(target: string): boolean {
  return /^https?:\/\/(localhost|127\.0\.0\.1)(:\d+)?(\/|$)/.test(target);
}

/** Where a relative link of `page` points, relative to the repository; undefined when it leaves it. */
export function resolveLink(page: string, path: string): string | undefined {
  const resolved = relative(repoRoot, join(repoRoot, page, '..', decodeURIComponent(path)));
  return resolved.startsWith('..') ? undefined : resolved === '' ? '.' : resolved;
}
