import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [Address, number];

/**
 * Addresses no probe may reach, whatever the configuration: unspecified (0.0.0.0/8 is "this
 * network", never a destination; on Linux 0.0.0.0 reaches the host itself), link-local (where
 * cloud metadata services answer) and the known metadata addresses outside it. Metadata first, so
 * that 169.254.169.254 is named for what it is.
 */
const ALWAYS_REFUSED: readonly { cidrs: readonly string[]; reason: string }[] = [
  { cidrs: ['169.254.169.254/32', '100.100.100.200/32', 'fd00:ec2::254/128'], reason: 'metadata address' },
  { cidrs: ['0.0.0.0/8', '::/128'], reason: 'unspecified address' },
  { cidrs: ['169.254.0.0/16', 'fe80::/10'], reason: 'link-local address' },
];

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

/**
 * IPv6 ranges that carry an IPv4 address in their last 32 bits and may be routed to it: IPv4-mapped
 * (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96, a NAT64 gateway connects
 * to the IPv4 address) and the deprecated IPv4-compatible form (::/96). Such an address is judged
 * as the IPv4 address it carries, as well as itself.
 */
const CARRY_IPV4 = ['::ffff:0:0/96', '::ffff:0:0:0/96', '64:ff9b::/96', '::/96'].map((c) => ipaddr.parseCIDR(c));

/** One `address/prefix`, in plain notation only (four decimal parts for IPv4: no octal or hex surprises); undefined otherwise. */
function parseCidr(text: string): Cidr | undefined {
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const address = m[1] as string;
  const prefix = Number(m[2]);
  if (ipaddr.IPv4.isValidFourPartDecimal(address) && prefix <= 32) return [ipaddr.IPv4.parse(address), prefix];
  if (ipaddr.IPv6.isValid(address) && !address.includes('%') && prefix <= 128) return [ipaddr.IPv6.parse(address), prefix];
  return undefined;
}

function parseList(value: string): Cidr[] | undefined {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === NO_CIDRS) return [];
  const cidrs: Cidr[] = [];
  for (const item of trimmed.split(',')) {
    const cidr = parseCidr(item);
    if (!cidr) return undefined;
    cidrs.push(cidr);
  }
  return cidrs;
}

/** The value of a CIDR list variable that lists nothing (as the empty value does). */
export const NO_CIDRS = 'none';

/** Whether a CIDR list variable (PROBE_DENY_CIDRS, PROBE_ALLOW_CIDRS) is well formed: empty, `none`, or comma-separated `address/prefix`. */
export function isCidrList(value: unknown): boolean {
  return typeof value === 'string' && parseList(value) !== undefined;
}

function within(candidates: readonly Address[], cidrs: readonly Cidr[]): boolean {
  return candidates.some((a) => cidrs.some(([range, bits]) => range.kind() === a.kind() && a.match(range, bits)));
}

/** The address itself and, when it carries one (see CARRY_IPV4), the IPv4 address it would reach. */
function candidatesOf(address: Address): Address[] {
  if (address.kind() === 'ipv4') return [address];
  const v6 = address as ipaddr.IPv6;
  if (!CARRY_IPV4.some(([range, bits]) => v6.match(range, bits))) return [v6];
  const [hi = 0, lo = 0] = v6.parts.slice(6);
  if (hi < 0x100 && v6.parts.slice(0, 6).every((p) => p === 0)) return [v6];
  return [v6, new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff])];
}

export interface AddressRulesConfig {
  PROBE_ALLOW_LOOPBACK: boolean;
  PROBE_DENY_CIDRS: string;
  PROBE_ALLOW_CIDRS: string;
}

/**
 * Where probes may go (docs/policies-and-health.md), applied to every address a name resolves to:
 *
 * 1. always refused: unspecified, link-local and metadata addresses;
 * 2. loopback refused unless PROBE_ALLOW_LOOPBACK;
 * 3. PROBE_DENY_CIDRS refused;
 * 4. when PROBE_ALLOW_CIDRS is set, anything outside it refused.
 *
 * Everything else (the private ranges included: routes point inside the cluster) is probed. An
 * address is judged in every form it reaches: an IPv6 address that carries an IPv4 one (mapped,
 * NAT64, ...) is refused when either is. The reasons name a class, never the address.
 */
export class AddressRules {
  private readonly always: { cidrs: Cidr[]; reason: string }[];
  private readonly loopback: Cidr[];
  private readonly deny: Cidr[];
  private readonly allow: Cidr[];

  constructor(private readonly config: AddressRulesConfig) {
    this.always = ALWAYS_REFUSED.map(({ cidrs, reason }) => ({ cidrs: cidrs.map((c) => ipaddr.parseCIDR(c)), reason }));
    this.loopback = LOOPBACK.map((c) => ipaddr.parseCIDR(c));
    const deny = parseList(config.PROBE_DENY_CIDRS);
    const allow = parseList(config.PROBE_ALLOW_CIDRS);
    if (!deny) throw new Error('PROBE_DENY_CIDRS: expected comma-separated address/prefix CIDRs');
    if (!allow) throw new Error('PROBE_ALLOW_CIDRS: expected comma-separated address/prefix CIDRs');
    this.deny = deny;
    this.allow = allow;
  }

  /** Why `address` (as name resolution gives it) may not be probed, as `lastError` says it; undefined when it may. */
  refuses(address: string): string | undefined {
    let parsed: Address;
    try {
      parsed = ipaddr.parse(address);
    } catch {
      return 'refused: not an IP address';
    }
    const candidates = candidatesOf(parsed);
    for (const { cidrs, reason } of this.always) if (within(candidates, cidrs)) return `refused: ${reason}`;
    if (!this.config.PROBE_ALLOW_LOOPBACK && within(candidates, this.loopback)) return 'refused: loopback address (PROBE_ALLOW_LOOPBACK is off)';
    if (within(candidates, this.deny)) return 'refused: address in PROBE_DENY_CIDRS';
    if (this.allow.length > 0 && !within(candidates, this.allow)) return 'refused: address outside PROBE_ALLOW_CIDRS';
    return undefined;
  }

  /** What the prober refuses and allows, for its start-up log line. */
  describe(): string {
    const list = (cidrs: readonly Cidr[]) => cidrs.map(([a, bits]) => `${a.toString()}/${bits}`).join(', ');
    return [
      `refusing always: ${ALWAYS_REFUSED.map(({ cidrs, reason }) => `${reason} (${cidrs.join(', ')})`).join(', ')}`,
      `loopback: ${this.config.PROBE_ALLOW_LOOPBACK ? 'probed (PROBE_ALLOW_LOOPBACK=true)' : 'refused'}`,
      `refusing also: ${this.deny.length === 0 ? 'nothing' : list(this.deny)} (PROBE_DENY_CIDRS)`,
      `probing: ${this.allow.length === 0 ? 'any other address' : `only ${list(this.allow)}`} (PROBE_ALLOW_CIDRS)`,
    ].join('; ');
  }
}
