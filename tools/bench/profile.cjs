// The hit path's budget: a V8 CPU profile of the resolver under the hits load (a .cpuprofile, as
// `node --cpu-prof` writes it), its samples named by stage (auth, cache read, health, selection,
// serialisation, logging, metrics, framework, HTTP and network, ...) and a flame graph of it as SVG.
// Pure functions over the profile's JSON: the bench (run.mjs) takes the profile; profile.spec.ts tests these.
// CommonJS, as report.cjs, so that jest can load it.
'use strict';

/**
 * What the bench reads of a .cpuprofile.
 * @typedef {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} CpuProfile
 */

/**
 * The hit path's stages, in the order the budget names them; a sample belongs to the first stage
 * (from the sampled function up its callers) whose pattern matches a frame's `function url`.
 * Frames of node_modules are matched by package, ours by function name (`respond`: the resolver's
 * front handler building and writing the answer; the lookups it calls are named on their own).
 * @type {ReadonlyArray<{ stage: string, pattern: RegExp }>}
 */
const STAGES = [
  { stage: 'auth', pattern: /^(canActivate|verify|trusted|bearerToken|hashSecret|hashesEqual|lookUp|tryAdmit|admit|take|authorize|hasScope|reaches) / },
  { stage: 'cache read', pattern: /^(fromMemory|resolveHeld|readWithHealth|answer|read|readOnce|fill|prepare|freshness|changedSince|get) .*(dist\/apps\/resolver|route-cache)|node_modules\/@redis\// },
  { stage: 'health', pattern: /^(healthOf|votesOf|parseSummary|readHealth|majorityHealth) / },
  { stage: 'selection', pattern: /^(select|selectEndpoint|pick|weightedPick|fitToProbes) / },
  { stage: 'serialisation', pattern: /^(serialize|stringify|answerBody|cacheHeaders|respond|JSON\.stringify) |fast-json-stringify|secure-json-parse/ },
  { stage: 'logging', pattern: /node_modules\/(pino|pino-std-serializers|nestjs-pino|sonic-boom|thread-stream)\/|^(logRequests|requestOf|isOperationalPath) / },
  { stage: 'metrics', pattern: /node_modules\/prom-client\/|^(counted|countHeld) / },
  { stage: 'framework', pattern: /node_modules\/(@nestjs|fastify|find-my-way|avvio|light-my-request|rxjs|reflect-metadata|class-validator|class-transformer)\// },
  { stage: 'HTTP and network', pattern: /^(writeUtf8String|writev|writeBuffer|readv|utf8Slice|latin1Slice) |node:(_http_\w+|net|internal\/streams\/\w+|internal\/stream_base_commons|stream)/ },
  { stage: 'garbage collection', pattern: /^\(garbage collector\) / },
];

/** Samples the profile does not name: the event loop and the rest of Node. */
const OTHER = 'other';
const IDLE = /^\((idle|program)\) /;

/** @param {ProfileNode} node */
function frameName(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || '(anonymous)'} ${url}:${lineNumber}`;
}

/**
 * The time of each node's own samples (µs) within [from, to] (µs on the profile's clock; the whole
 * profile by default), and each node's parent.
 * @param {CpuProfile} profile
 * @param {{ from?: number, to?: number }} [window]
 */
function selfTimes(profile, window = {}) {
  /** @type {Map<number, number>} */
  const self = new Map();
  const from = window.from ?? Number.NEGATIVE_INFINITY;
  const to = window.to ?? Number.POSITIVE_INFINITY;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < from || at > to) continue;
    const id = /** @type {number} */ (profile.samples[i]);
    self.set(id, (self.get(id) ?? 0) + delta);
  }
  /** @type {Map<number, ProfileNode>} */
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const parents = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  return { self, nodes, parents };
}

/**
 * CPU time by stage: each stage's µs and share of the busy time (idle excluded), and the busy time
 * itself. `perRequest`, given the requests answered in the window, turns µs into µs per request.
 * @param {CpuProfile} profile
 * @param {{ from?: number, to?: number, requests?: number }} [options]
 */
function stageCosts(profile, options = {}) {
  const { self, nodes, parents } = selfTimes(profile, options);
  /** @type {Map<string, number>} */
  const byStage = new Map([...STAGES.map((s) => /** @type {[string, number]} */ ([s.stage, 0])), [OTHER, 0]]);
  let busy = 0;
  for (const [id, us] of self) {
    const leaf = /** @type {ProfileNode} */ (nodes.get(id));
    if (IDLE.test(frameName(leaf))) continue;
    busy += us;
    let stage = OTHER;
    for (let cur = /** @type {number | undefined} */ (id); cur !== undefined && stage === OTHER; cur = parents.get(cur)) {
      const name = frameName(/** @type {ProfileNode} */ (nodes.get(cur)));
      const hit = STAGES.find((s) => s.pattern.test(name));
      if (hit) stage = hit.stage;
    }
    byStage.set(stage, (byStage.get(stage) ?? 0) + us);
  }
  const requests = options.requests;
  return {
    busyMs: Math.round(busy / 1000),
    requests: requests ?? null,
    stages: [...byStage].map(([stage, us]) => ({
      stage,
      ms: Math.round(us / 100) / 10,
      share: busy > 0 ? Math.round((1000 * us) / busy) / 1000 : 0,
      usPerRequest: requests ? Math.round((10 * us) / requests) / 10 : null,
    })),
  };
}

/**
 * The profile as a tree of frames with their total time (µs), merged by name along each path, for
 * the flame graph. Frames below `minShare` of the total are folded into their parent.
 * @param {CpuProfile} profile
 * @param {{ from?: number, to?: number }} [window]
 */
function frameTree(profile, window = {}) {
  const { self, nodes } = selfTimes(profile, window);
  /** @typedef {{ name: string, total: number, children: Map<string, Tree> }} Tree */
  /** @type {Tree} */
  const root = { name: 'all', total: 0, children: new Map() };
  /**
   * @param {ProfileNode} node
   * @param {Tree} into
   * @returns {number}
   */
  const walk = (node, into) => {
    const name = frameName(node);
    if (IDLE.test(name)) return 0;
    let tree = into.children.get(name);
    if (!tree) {
      tree = { name, total: 0, children: new Map() };
      into.children.set(name, tree);
    }
    let total = self.get(node.id) ?? 0;
    for (const c of node.children ?? []) total += walk(/** @type {ProfileNode} */ (nodes.get(c)), tree);
    tree.total += total;
    return total;
  };
  const top = profile.nodes[0];
  if (top) for (const c of top.children ?? []) root.total += walk(/** @type {ProfileNode} */ (nodes.get(c)), root);
  return root;
}

/** @param {string} s */
const escapeXml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A short label of a frame: its function and its file (the package for node_modules). @param {string} name */
function label(name) {
  const space = name.indexOf(' ');
  const fn = space < 0 ? name : name.slice(0, space);
  const url = space < 0 ? '' : name.slice(space + 1).replace(/:\d+$/, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  const where = pkg ? pkg[1] : url.replace(/^.*\/(dist|libs|apps)\//, '$1/');
  return where ? `${fn} (${where})` : fn;
}

/**
 * A flame graph (callers below, callees above) of the profile as a self-contained SVG: one rectangle
 * per frame, its width its share of the busy time, a tooltip with the frame and its milliseconds.
 * Opens in any browser; the .cpuprofile beside it opens in Chrome's DevTools or speedscope.
 * @param {CpuProfile} profile
 * @param {{ from?: number, to?: number, title?: string, width?: number, minShare?: number }} [options]
 */
function flameGraphSvg(profile, options = {}) {
  const tree = frameTree(profile, options);
  const width = options.width ?? 1200;
  const rowHeight = 16;
  const minShare = options.minShare ?? 0.002;
  /** @typedef {{ name: string, total: number, children: Map<string, Tree> }} Tree */
  /** @param {Tree} node @returns {Tree[]} the children drawn, widest first */
  const shown = (node) => [...node.children.values()].filter((c) => c.total / Math.max(1, tree.total) >= minShare).sort((a, b) => b.total - a.total);
  /** @param {Tree} node @returns {number} */
  const depthOf = (node) => 1 + Math.max(0, ...shown(node).map(depthOf));
  const height = depthOf(tree) * rowHeight + 30;
  /** @type {string[]} */
  const rects = [];
  /**
   * @param {Tree} node
   * @param {number} x
   * @param {number} depth
   */
  const draw = (node, x, depth) => {
    const w = tree.total > 0 ? (node.total / tree.total) * width : 0;
    const y = height - 10 - (depth + 1) * rowHeight;
    const hue = /node_modules/.test(node.name) ? 30 : /^\S+ node:/.test(node.name) ? 200 : 0;
    rects.push(
      `<g><title>${escapeXml(`${node.name} ${(node.total / 1000).toFixed(1)} ms (${((100 * node.total) / Math.max(1, tree.total)).toFixed(1)}%)`)}</title>` +
        `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(0.5, w - 0.5).toFixed(1)}" height="${rowHeight - 1}" fill="hsl(${hue + ((depth * 7) % 30)},70%,${60 + ((depth * 5) % 20)}%)"/>` +
        (w > 40 ? `<text x="${(x + 3).toFixed(1)}" y="${y + 11}">${escapeXml(label(node.name).slice(0, Math.floor(w / 6.5)))}</text>` : '') +
        '</g>',
    );
    let cx = x;
    for (const child of shown(node)) {
      draw(child, cx, depth + 1);
      cx += (child.total / tree.total) * width;
    }
  };
  draw(tree, 0, 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="monospace" font-size="11">`,
    `<text x="4" y="14" font-size="13">${escapeXml(options.title ?? 'CPU flame graph')}</text>`,
    ...rects,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { STAGES, OTHER, stageCosts, frameTree, flameGraphSvg };
