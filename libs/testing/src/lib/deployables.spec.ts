import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_DNS_PORT, DefaultPorts } from '@tm/contracts';
import { REPO_ROOT } from './env';
import { DEPLOYABLES, PORT_VARIABLE, type AppName } from './processes';

/** AppName's members (the compiler checks this object against the type both ways). */
const APP_NAMES: Record<AppName, true> = { 'command-api': true, resolver: true, 'outbox-relay': true, 'invalidation-worker': true, 'health-prober': true };

describe('tools/stack/deployables.json, the one list of deployables and their ports', () => {
  it('names every app of AppName once, each an Nx app project with an entry point', () => {
    expect(DEPLOYABLES.map((d) => d.name).sort()).toEqual(Object.keys(APP_NAMES).sort());
    for (const { name } of DEPLOYABLES) {
      expect(existsSync(join(REPO_ROOT, 'apps', name, 'project.json'))).toBe(true);
      expect(existsSync(join(REPO_ROOT, 'apps', name, 'src', 'main.ts'))).toBe(true);
    }
  });

  it("gives each app the port variable its configuration class reads, defaulting to DefaultPorts", () => {
    const defaults = Object.values(DefaultPorts).sort((a, b) => a - b);
    expect(DEPLOYABLES.map((d) => d.port).sort((a, b) => a - b)).toEqual(defaults);
    for (const { name, portVar, port } of DEPLOYABLES) {
      expect(PORT_VARIABLE[name]).toBe(portVar);
      const config = readFileSync(join(REPO_ROOT, 'apps', name, 'src', 'config.ts'), 'utf8');
      const declared = new RegExp(`^\\s*${portVar}: number = DefaultPorts\\.(\\w+);`, 'm').exec(config);
      expect(declared).not.toBeNull();
      expect(DefaultPorts[declared?.[1] as keyof typeof DefaultPorts]).toBe(port);
    }
  });

  it("gives the resolver's DNS the variable and default its configuration reads, and Kubernetes' port 53", () => {
    expect(DEPLOYABLES.filter((d) => d.dns).map((d) => d.name)).toEqual(['resolver']);
    const dns = DEPLOYABLES.find((d) => d.dns)?.dns;
    expect(dns).toMatchObject({ portVar: 'RESOLVER_DNS_PORT', port: DEFAULT_DNS_PORT, servicePort: 53 });
    const config = readFileSync(join(REPO_ROOT, 'apps', 'resolver', 'src', 'config.ts'), 'utf8');
    expect(config).toMatch(/^\s*RESOLVER_DNS_PORT = DEFAULT_DNS_PORT;/m);
  });

  it('has no port or port variable twice, the second prober included, and says what each is', () => {
    const instances = DEPLOYABLES.flatMap((d) => [d, ...(d.secondInstance ? [d.secondInstance] : [])]);
    expect(new Set(instances.map((i) => i.port)).size).toBe(instances.length);
    expect(new Set(instances.map((i) => i.portVar)).size).toBe(instances.length);
    for (const instance of instances) expect(instance.what).toMatch(/\S/);
    expect(DEPLOYABLES.filter((d) => d.secondInstance).map((d) => d.name)).toEqual(['health-prober']);
  });
});
