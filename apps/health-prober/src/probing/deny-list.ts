import { BlockList, isIP } from 'node:net';

/** The addresses probes refuse by default: link-local (where cloud metadata services answer) and AWS's IPv6 metadata address. */
export const DEFAULT_DENY_CIDRS = '169.254.0.0/16,fe80::/10,fd00:ec2::254/128';

/** The value of PROBE_DENY_CIDRS that empties the list. */
export const NO_DENY_CIDRS = 'none';

export interface DenyList {
  /** The CIDRs, as configured. */
  readonly cidrs: readonly string[];
  /** The CIDR that refuses `address`, or undefined. */
  refuses(address: string): string | undefined;
}

/** Parses one `address/prefix`; undefined when it is not one. */
function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(cidr.trim());
  if (!m) return undefined;
  const address = m[1] as string;
  const prefix = Number(m[2]);
  const version = isIP(address);
  if (version === 4 && prefix <= 32) return { address, prefix, family: 'ipv4' };
  if (version === 6 && prefix <= 128) return { address, prefix, family: 'ipv6' };
  return undefined;
}

/** Why PROBE_DENY_CIDRS is malformed, or undefined. */
export function denyCidrsProblem(value: string): string | undefined {
  if (value.trim() === NO_DENY_CIDRS) return undefined;
  const bad = value.split(',').find((c) => !parseCidr(c));
  return bad === undefined ? undefined : `${bad.trim().slice(0, 60)} is not an address/prefix`;
}

/** The deny list of PROBE_DENY_CIDRS (`none`: empty). IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry. */
export function denyList(value: string): DenyList {
  const cidrs = value.trim() === NO_DENY_CIDRS ? [] : value.split(',').map((c) => c.trim());
  const lists = cidrs.map((cidr) => {
    const parsed = parseCidr(cidr);
    if (!parsed) throw new Error(`PROBE_DENY_CIDRS: ${cidr} is not an address/prefix`);
    const list = new BlockList();
    list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    return { cidr, list };
  });
  return {
    cidrs,
    refuses(address: string): string | undefined {
      const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
      const candidate = mapped ?? address;
      const family = isIP(candidate) === 6 ? 'ipv6' : 'ipv4';
      return lists.find(({ list }) => list.check(candidate, family))?.cidr;
    },
  };
}
