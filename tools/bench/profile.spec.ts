import { flameGraphSvg, stageCosts, type CpuProfile } from './profile.cjs';

/** A profile of three stacks: a request's auth under Nest, a response write under Fastify, and idle time. */
function profile(): CpuProfile {
  const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 1 });
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 5, 7] },
      { id: 2, callFrame: frame('handle', 'file:///x/node_modules/@nestjs/core/router/router-execution-context.js'), children: [3] },
      { id: 3, callFrame: frame('canActivate', 'file:///x/dist/apps/resolver/main.js'), children: [4] },
      { id: 4, callFrame: frame('hash', 'node:internal/crypto/hash') },
      { id: 5, callFrame: frame('onSendEnd', 'file:///x/node_modules/fastify/lib/reply.js'), children: [6] },
      { id: 6, callFrame: frame('writeUtf8String', '') },
      { id: 7, callFrame: frame('(idle)', '') },
    ],
    // Sampled every 100 µs: 3 in hash (auth), 1 in Nest itself (framework), 4 writing (network), 2 idle.
    samples: [4, 4, 4, 2, 6, 6, 6, 6, 7, 7],
    timeDeltas: Array.from({ length: 10 }, () => 100),
    startTime: 0,
    endTime: 1_000,
  };
}

describe('the hit path budget (profile.mjs)', () => {
  it('names each busy sample by the stage of its innermost known frame, idle excluded, per request when told', () => {
    const costs = stageCosts(profile(), { requests: 4 });
    expect(costs.busyMs).toBe(1);
    const by = Object.fromEntries(costs.stages.map((s) => [s.stage, s]));
    expect(by['auth']).toMatchObject({ share: 0.375, usPerRequest: 75 });
    expect(by['framework']).toMatchObject({ share: 0.125 });
    expect(by['HTTP and network']).toMatchObject({ share: 0.5, usPerRequest: 100 });
    expect(costs.stages.reduce((sum, s) => sum + s.share, 0)).toBeCloseTo(1, 5);
  });

  it('keeps to a window of the profile', () => {
    const costs = stageCosts(profile(), { from: 450, to: 800 });
    const by = Object.fromEntries(costs.stages.map((s) => [s.stage, s.share]));
    expect(by['HTTP and network']).toBe(1);
  });

  it('draws a flame graph: one rectangle per frame with its share in the tooltip, idle left out', () => {
    const svg = flameGraphSvg(profile(), { title: 'hits & more' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('hits &amp; more');
    expect(svg).toContain('<title>canActivate file:///x/dist/apps/resolver/main.js:1 0.3 ms (37.5%)</title>');
    expect(svg).not.toContain('(idle)');
    expect(svg.match(/<rect /g)).toHaveLength(6);
  });
});
