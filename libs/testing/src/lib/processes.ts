import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './env';
import { freeDnsPort, freePort } from './free-port';

export type AppName = 'command-api' | 'resolver' | 'outbox-relay' | 'invalidation-worker' | 'health-prober';

/**
 * A deployable as tools/stack/deployables.json lists it: the one list of the apps and their ports,
 * which npm start, the bench, this harness and the compose and Kubernetes checks read.
 */
export interface Deployable {
  name: AppName;
  /** The app's port variable, and its default (DefaultPorts). */
  portVar: string;
  port: number;
  /** What it is (npm start prints it). */
  what: string;
  /** The resolver's DNS port, UDP and TCP (its variable, default, Kubernetes Service port, and what npm start prints). */
  dns?: { portVar: string; port: number; servicePort: number; what: string };
  /** A health prober runs twice (npm start, compose): the second instance's name and port. */
  secondInstance?: { label: string; portVar: string; port: number; what: string };
}

export const DEPLOYABLES: readonly Deployable[] = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'tools', 'stack', 'deployables.json'), 'utf8')) as { deployables: Deployable[] }
).deployables;

/** The environment variable holding each app's port. */
export const PORT_VARIABLE = Object.fromEntries(DEPLOYABLES.map((d) => [d.name, d.portVar])) as Readonly<Record<AppName, string>>;

/** The built entry point of an app (`nx build <app>`; the e2e project builds them first). */
export function appEntry(app: AppName): string {
  const entry = join(REPO_ROOT, 'dist', 'apps', app, 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run "npx nx build ${app}" first`);
  return entry;
}

/** A TCP port that was free a moment ago (one function for the harness and the bench: free-port.js). */
export { freePort };
/** A port free for both UDP and TCP a moment ago (a resolver's RESOLVER_DNS_PORT). */
export { freeDnsPort };

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** An app running as a child process, as it runs in production. */
export class AppProcess {
  readonly output: string[] = [];
  readonly exited: Promise<ExitStatus>;
  private readonly child: ChildProcess;

  constructor(
    readonly app: AppName,
    readonly port: number,
    private readonly env: Record<string, string>,
    /** The entry point; default: the workspace build (dist/apps/<app>/main.js). */
    entry: string = appEntry(app),
  ) {
    this.child = spawn(process.execPath, [entry], {
      // A resolver's DNS is off unless the test gives it a port (5353 is npm start's, and two resolvers would share it).
      env: { PATH: process.env['PATH'] ?? '', [PORT_VARIABLE[app]]: String(port), HOST: '127.0.0.1', ...(app === 'resolver' ? { RESOLVER_DNS_PORT: '0' } : {}), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer) => this.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** A resolver's DNS port (RESOLVER_DNS_PORT as given); undefined when DNS is off. */
  get dnsPort(): number | undefined {
    const port = Number(this.env['RESOLVER_DNS_PORT'] ?? '0');
    return this.app === 'resolver' && port > 0 ? port : undefined;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until GET /health/ready answers 200; fails with the app's output when it exits or times out. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.app} exited while starting:\n${this.output.join('\n')}`);
      try {
        const res = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.app} was not ready within ${timeoutMs} ms:\n${this.output.slice(-30).join('\n')}`);
  }

  /** SIGTERM, then the exit status (SIGKILL after the timeout). */
  async stop(timeoutMs = 15_000): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL: the crash a fault test wants. */
  async kill(): Promise<ExitStatus> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Starts an app and waits (30 s by default) for it to be ready. */
export async function startApp(app: AppName, env: Record<string, string>, port?: number, readyTimeoutMs?: number): Promise<AppProcess> {
  const proc = new AppProcess(app, port ?? (await freePort()), env);
  try {
    await proc.waitReady(readyTimeoutMs);
  } catch (e) {
    await proc.kill();
    throw e;
  }
  return proc;
}

/** Runs an app to its exit (for configuration errors): exit status and output lines. */
export async function runToExit(
  app: AppName,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<ExitStatus & { stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [appEntry(app)], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const status = await new Promise<ExitStatus>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  clearTimeout(timer);
  return { ...status, stdout, stderr };
}
