import 'reflect-metadata';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getMetadataStorage, ValidationTypes } from 'class-validator';
// The one place outside apps/ that imports them: their validated configuration classes, which this
// page must match (tools/docs-check/eslint.config.mjs allows exactly these imports).
import { CommandApiConfig } from '../../../apps/command-api/src/config';
import { HealthProberConfig } from '../../../apps/health-prober/src/config';
import { InvalidationWorkerConfig } from '../../../apps/invalidation-worker/src/config';
import { OutboxRelayConfig } from '../../../apps/outbox-relay/src/config';
import { ResolverConfig } from '../../../apps/resolver/src/config';
import { proseLines, readPage, repoRoot } from './markdown';

/** Each deployable's configuration class, as its main.ts hands it to `main({ config })`. */
const CONFIG_CLASSES: Record<string, new () => object> = {
  'command-api': CommandApiConfig,
  resolver: ResolverConfig,
  'outbox-relay': OutboxRelayConfig,
  'invalidation-worker': InvalidationWorkerConfig,
  'health-prober': HealthProberConfig,
};

/**
 * Variables the page names that no configuration class validates: read by the relay itself (a test
 * hook), by `npm start`, `npm test`, `npm run migrate`, the Kafka script, the `tm` command and the
 * console's build and tests.
 */
const READ_OUTSIDE_THE_CLASSES = [
  'RELAY_PAUSE_BEFORE_MARK_MS',
  'HEALTH_PROBER_2_PORT',
  'LOG_FORMAT',
  'PGUSER',
  'TM_TEST_DATABASE_URL',
  'TM_TEST_REDIS_URL',
  'TM_TEST_KAFKA_BROKERS',
  'TM_TEST_CHROMIUM',
  'TM_TEST_DIG',
  'TM_UPDATE_API_TYPES',
  'TM_DEV_COMMAND_API',
  'TM_DEV_RESOLVER',
  'KAFKA_DIR',
  'KAFKA_PORT',
  'KAFKA_HEAP_OPTS',
  'TM_CACHE_DIR',
  'TM_API_KEY',
  'TM_COMMAND_URL',
  'TM_RESOLVER_URL',
];

const PAGE = 'docs/configuration.md';
/** A variable's name in a table's first column; in prose, only names with an underscore are taken for one. */
const VARIABLE = /^[A-Z][A-Z0-9_]+$/;
const VARIABLE_IN_PROSE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

type ValidationMetadata = ReturnType<ReturnType<typeof getMetadataStorage>['getTargetValidationMetadatas']>[number];

/** class-validator's metadata of a class, its base classes' included: what `validateConfig` checks. */
function metadataOf(cls: new () => object): ValidationMetadata[] {
  return getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false);
}

function validated(cls: new () => object): Set<string> {
  return new Set(metadataOf(cls).map((m) => m.propertyName));
}

interface Row {
  variable: string;
  defaultCell: string;
  allowedCell: string;
}

interface Section {
  heading: string;
  readBy: string[];
  rows: Row[];
}

/** The page's `##` sections: which deployables read each ("Read by:"), and its tables' rows. */
function sections(text: string): Section[] {
  const result: Section[] = [];
  let current: Section | undefined;
  for (const line of proseLines(text)) {
    const heading = /^##\s+(.+)$/.exec(line)?.[1];
    if (heading !== undefined) {
      current = { heading, readBy: [], rows: [] };
      result.push(current);
      continue;
    }
    if (current === undefined) continue;
    if (line.startsWith('Read by:')) {
      const names = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
      current.readBy = names.filter((n) => n in CONFIG_CLASSES);
      continue;
    }
    const cells = /^\|(.*)\|\s*$/.exec(line)?.[1]?.split(' | ').map((c) => c.trim());
    if (cells === undefined) continue;
    const variables = [...(cells[0] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string).filter((v) => VARIABLE.test(v));
    for (const variable of variables) current.rows.push({ variable, defaultCell: cells[1] ?? '', allowedCell: cells[2] ?? '' });
  }
  return result;
}

const text = readPage(PAGE);
const pageSections = sections(text);

describe(PAGE, () => {
  it('covers every deployable under apps/ (a browser app, tagged type:browser, reads no environment)', () => {
    const apps = readdirSync(join(repoRoot, 'apps'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .filter((name) => !(JSON.parse(readFileSync(join(repoRoot, 'apps', name, 'project.json'), 'utf8')) as { tags?: string[] }).tags?.includes('type:browser'));
    expect(apps.sort()).toEqual(Object.keys(CONFIG_CLASSES).sort());
  });

  it('reads inherited variables from the metadata (the base class counts)', () => {
    for (const cls of Object.values(CONFIG_CLASSES)) expect(validated(cls)).toContain('LOG_LEVEL');
    expect(validated(OutboxRelayConfig)).toContain('KAFKA_BROKERS');
  });

  it.each(Object.keys(CONFIG_CLASSES))('lists exactly the variables %s validates, in sections it reads', (app) => {
    const cls = CONFIG_CLASSES[app] as new () => object;
    const documented = new Set(pageSections.filter((s) => s.readBy.includes(app)).flatMap((s) => s.rows.map((r) => r.variable)));
    const expected = validated(cls);
    expect({ app, missing: [...expected].filter((v) => !documented.has(v)).sort() }).toEqual({ app, missing: [] });
    expect({ app, notValidated: [...documented].filter((v) => !expected.has(v)).sort() }).toEqual({ app, notValidated: [] });
  });

  it('names no variable that neither an app validates nor the short list read outside the classes', () => {
    const known = new Set([...Object.values(CONFIG_CLASSES).flatMap((cls) => [...validated(cls)]), ...READ_OUTSIDE_THE_CLASSES]);
    const named = new Set([...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] as string).filter((v) => VARIABLE_IN_PROSE.test(v)));
    for (const section of pageSections) for (const row of section.rows) named.add(row.variable);
    expect([...named].filter((v) => !known.has(v)).sort()).toEqual([]);
  });

  it('keeps the list of variables read outside the classes short and true', () => {
    const anyApp = new Set(Object.values(CONFIG_CLASSES).flatMap((cls) => [...validated(cls)]));
    const outside = pageSections.filter((s) => s.readBy.length === 0).flatMap((s) => s.rows.map((r) => r.variable));
    for (const variable of READ_OUTSIDE_THE_CLASSES) {
      expect({ variable, validatedByAnApp: anyApp.has(variable) }).toEqual({ variable, validatedByAnApp: false });
      expect(outside).toContain(variable);
    }
  });

  it("gives each app's default as its class has it", () => {
    const wrong: string[] = [];
    for (const section of pageSections) {
      for (const app of section.readBy) {
        const cls = CONFIG_CLASSES[app] as new () => object;
        const instance = new cls() as Record<string, unknown>;
        const meta = metadataOf(cls);
        for (const { variable, defaultCell } of section.rows) {
          const value = instance[variable];
          const literal = /^`([^`]*)`$/.exec(defaultCell)?.[1] ?? (/^-?\d+$/.test(defaultCell) ? defaultCell : undefined);
          if (defaultCell === 'required') {
            const conditional = meta.some((m) => m.propertyName === variable && m.type === ValidationTypes.CONDITIONAL_VALIDATION);
            if (conditional || value !== undefined) wrong.push(`${app} ${variable}: written required, but it is optional`);
          } else if (literal !== undefined && String(value) !== literal) {
            wrong.push(`${app} ${variable}: written ${defaultCell}, the class has ${String(value)}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("gives each app's range (\"A to B\") as its class checks it", () => {
    const wrong: string[] = [];
    for (const section of pageSections) {
      for (const app of section.readBy) {
        const meta = metadataOf(CONFIG_CLASSES[app] as new () => object);
        for (const { variable, allowedCell } of section.rows) {
          const range = /^(-?\d+) to (-?\d+)$/.exec(allowedCell);
          if (range === null) continue;
          const bound = (name: string) => meta.find((m) => m.propertyName === variable && m.name === name)?.constraints?.[0] as unknown;
          const actual = `${String(bound('min'))} to ${String(bound('max'))}`;
          if (actual !== allowedCell) wrong.push(`${app} ${variable}: written ${allowedCell}, the class checks ${actual}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
