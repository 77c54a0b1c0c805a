// @ts-check
// Unbound's configuration for the two places that run Debian's Unbound beside the resolver: the
// forwarding test (e2e/src/dns-forwarding.e2e-spec.ts: the zone as a stub zone on the resolver's DNS
// port, as the cluster's DNS forwards it) and the bench's peer (tools/bench/dns.mjs: the same names as
// static local-data). Plain JavaScript (CommonJS), as free-port.js, so that the TypeScript tests (with
// unbound-config.d.ts) and the bench's .mjs import the same function.

/**
 * An Unbound configuration on 127.0.0.1:`port`, in the foreground, one thread, its files in `dir`,
 * nothing outside `zone` resolved (refused: no recursion, no query leaves the machine), no DNSSEC
 * validation. The zone is either `stub` (its server's port on 127.0.0.1: queries are sent there and
 * the answers cached as their TTLs say) or `records` (static local-data, TTL `ttl`).
 * @param {{ dir: string, port: number, zone: string, stub?: number, records?: Array<{ name: string, address: string }>, ttl?: number }} options
 * @returns {string}
 */
function unboundConfig({ dir, port, zone, stub, records, ttl = 5 }) {
  if ((stub === undefined) === (records === undefined)) throw new Error('unboundConfig: either stub or records');
  const fqdn = zone.replace(/\.?$/, '.');
  const lines = [
    'server:',
    '    interface: 127.0.0.1',
    `    port: ${port}`,
    '    do-ip6: no',
    '    do-daemonize: no',
    '    chroot: ""',
    '    username: ""',
    `    directory: "${dir}"`,
    '    pidfile: ""',
    '    use-syslog: no',
    '    logfile: ""',
    '    verbosity: 0',
    '    num-threads: 1',
    '    access-control: 127.0.0.0/8 allow',
    // The iterator alone: no trust anchor to fetch, no validation.
    '    module-config: "iterator"',
    '    local-zone: "." refuse',
  ];
  if (stub !== undefined) {
    // The zone's server listens on this machine's loopback, which Unbound does not query unless told.
    lines.push('    do-not-query-localhost: no', `    local-zone: "${fqdn}" transparent`);
  } else {
    lines.push(`    local-zone: "${fqdn}" static`, ...(records ?? []).map((r) => `    local-data: "${r.name.replace(/\.?$/, '.')} ${ttl} IN A ${r.address}"`));
  }
  lines.push('remote-control:', '    control-enable: no');
  if (stub !== undefined) lines.push('stub-zone:', `    name: "${fqdn}"`, `    stub-addr: 127.0.0.1@${stub}`);
  return `${lines.join('\n')}\n`;
}

module.exports = { unboundConfig };
