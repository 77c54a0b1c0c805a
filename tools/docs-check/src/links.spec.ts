import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { anchors, isExternal, isLocalhost, links, markdownFiles, readPage, repoRoot, resolveLink, slug } from './markdown';

describe('markdown helpers', () => {
  it('makes anchors as GitHub does', () => {
    expect(slug('Tenancy: limits and revocation')).toBe('tenancy-limits-and-revocation');
    expect(slug('Kafka as a cluster, with credentials')).toBe('kafka-as-a-cluster-with-credentials');
    expect(slug('Proof: the `tm` CLI (and SDK)')).toBe('proof-the-tm-cli-and-sdk');
    expect([...anchors('# A\n\n## B b\n\n```sh\n# not a heading\n```\n\n## B b\n')]).toEqual(['a', 'b-b', 'b-b-1']);
  });

  it('finds links outside code only', () => {
    const text = 'see [a](a.md#x) and `[b](b.md)`\n```\n[c](c.md)\n```\n![d](img/d.svg "title")\n';
    expect(links(text).map((l) => l.target)).toEqual(['a.md#x', 'img/d.svg']);
  });
});

describe.each(markdownFiles())('%s', (page) => {
  const text = readPage(page);

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const { line, target } of links(text)) {
      if (isExternal(target)) continue;
      const [path = '', anchor] = target.split('#', 2);
      const file = path === '' ? page : resolveLink(page, path);
      if (file === undefined || !existsSync(join(repoRoot, file))) {
        broken.push(`${page}:${line}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && anchor !== '' && file.endsWith('.md') && !anchors(readPage(file)).has(anchor.toLowerCase())) {
        broken.push(`${page}:${line}: ${target} (no heading #${anchor} in ${file})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('links outside the repository only to the apps on this machine', () => {
    const outside = links(text)
      .filter(({ target }) => isExternal(target) && !isLocalhost(target))
      .map(({ line, target }) => `${page}:${line}: ${target}`);
    expect(outside).toEqual([]);
  });
});

it('the README links every page of docs/, and the index does too', () => {
  const pages = markdownFiles().filter((p) => p.startsWith('docs/') && p !== 'docs/README.md');
  expect(pages.length).toBeGreaterThan(0);
  for (const index of ['README.md', 'docs/README.md']) {
    const linked = new Set(
      links(readPage(index))
        .filter(({ target }) => !isExternal(target))
        .map(({ target }) => resolveLink(index, target.split('#')[0] ?? '')),
    );
    expect(pages.filter((p) => !linked.has(p))).toEqual([]);
  }
});
