import { AddressRules, isCidrList, type AddressRulesConfig } from './address-rules';

const rules = (config: Partial<AddressRulesConfig> = {}) => new AddressRules({ PROBE_ALLOW_LOOPBACK: false, PROBE_DENY_CIDRS: '', PROBE_ALLOW_CIDRS: '', ...config });

const METADATA = ['169.254.169.254', '100.100.100.200', 'fd00:ec2::254', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '::ffff:100.100.100.200', '64:ff9b::a9fe:a9fe', '::a9fe:a9fe'];
const UNSPECIFIED = ['0.0.0.0', '0.1.2.3', '::', '::ffff:0.0.0.0', '::ffff:0:0'];
const LINK_LOCAL = ['169.254.0.1', '169.254.170.2', 'fe80::1', 'fe80::1%eth0', 'febf::1', '::ffff:169.254.1.1'];
const LOOPBACK = ['127.0.0.1', '127.1.2.3', '127.255.255.254', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1', '0:0:0:0:0:ffff:7f00:0001'];
const PROBED = ['10.0.0.5', '172.16.0.1', '172.31.255.254', '192.168.1.1', 'fc00::1', 'fd12:3456::1', 'fd00:ec2::253', '8.8.8.8', '2001:db8::1', '100.64.0.1', '100.100.100.201', '::ffff:10.0.0.5'];

describe('AddressRules (where probes may go)', () => {
  describe('by default', () => {
    const r = rules();

    it.each(METADATA)('refuses the metadata address %s, in every form', (address) => {
      expect(r.refuses(address)).toBe('refused: metadata address');
    });

    it.each(UNSPECIFIED)('refuses the unspecified address %s', (address) => {
      expect(r.refuses(address)).toBe('refused: unspecified address');
    });

    it.each(LINK_LOCAL)('refuses the link-local address %s', (address) => {
      expect(r.refuses(address)).toBe('refused: link-local address');
    });

    it.each(LOOPBACK)('refuses the loopback address %s (PROBE_ALLOW_LOOPBACK is off)', (address) => {
      expect(r.refuses(address)).toBe('refused: loopback address (PROBE_ALLOW_LOOPBACK is off)');
    });

    it.each(PROBED)('probes %s (private ranges included: routes point inside the cluster)', (address) => {
      expect(r.refuses(address)).toBeUndefined();
    });

    it('refuses what is not an address, and never names the address it refuses', () => {
      expect(r.refuses('localhost')).toBe('refused: not an IP address');
      for (const address of [...METADATA, ...UNSPECIFIED, ...LINK_LOCAL, ...LOOPBACK]) expect(r.refuses(address)).not.toContain(address);
    });
  });

  it('PROBE_ALLOW_LOOPBACK=true lets loopback through, and nothing else that is always refused', () => {
    const r = rules({ PROBE_ALLOW_LOOPBACK: true });
    for (const address of LOOPBACK) expect(r.refuses(address)).toBeUndefined();
    for (const address of [...METADATA, ...UNSPECIFIED, ...LINK_LOCAL]) expect(r.refuses(address)).toMatch(/^refused: (metadata|unspecified|link-local) address$/);
  });

  it('PROBE_DENY_CIDRS adds refusals (IPv4-mapped forms included) and keeps the defaults; empty or none adds nothing', () => {
    const r = rules({ PROBE_DENY_CIDRS: '10.0.0.0/8, fd00:aaaa::/32' });
    for (const address of ['10.1.2.3', '::ffff:10.1.2.3', 'fd00:aaaa::5']) expect(r.refuses(address)).toBe('refused: address in PROBE_DENY_CIDRS');
    expect(r.refuses('192.168.1.1')).toBeUndefined();
    expect(r.refuses('169.254.169.254')).toBe('refused: metadata address');
    expect(r.refuses('127.0.0.1')).toMatch(/loopback/);
    for (const value of ['', 'none', ' none ']) expect(rules({ PROBE_DENY_CIDRS: value }).refuses('10.1.2.3')).toBeUndefined();
  });

  it('PROBE_ALLOW_CIDRS limits probes to its ranges; what is always refused stays refused, and loopback still needs PROBE_ALLOW_LOOPBACK', () => {
    const allow = '10.0.0.0/8,fd00::/8,169.254.0.0/16,127.0.0.0/8';
    const r = rules({ PROBE_ALLOW_CIDRS: allow });
    expect(r.refuses('10.1.2.3')).toBeUndefined();
    expect(r.refuses('::ffff:10.1.2.3')).toBeUndefined();
    expect(r.refuses('fd12::1')).toBeUndefined();
    expect(r.refuses('192.168.1.1')).toBe('refused: address outside PROBE_ALLOW_CIDRS');
    expect(r.refuses('8.8.8.8')).toBe('refused: address outside PROBE_ALLOW_CIDRS');
    expect(r.refuses('169.254.169.254')).toBe('refused: metadata address');
    expect(r.refuses('169.254.1.1')).toBe('refused: link-local address');
    expect(r.refuses('127.0.0.1')).toMatch(/loopback/);
    expect(rules({ PROBE_ALLOW_CIDRS: allow, PROBE_ALLOW_LOOPBACK: true }).refuses('127.0.0.1')).toBeUndefined();
    // Loopback allowed but outside the ranges: refused.
    expect(rules({ PROBE_ALLOW_CIDRS: '10.0.0.0/8', PROBE_ALLOW_LOOPBACK: true }).refuses('127.0.0.1')).toBe('refused: address outside PROBE_ALLOW_CIDRS');
  });

  it('describes what it refuses and allows (the start-up log line)', () => {
    expect(rules().describe()).toBe(
      'refusing always: metadata address (169.254.169.254/32, 100.100.100.200/32, fd00:ec2::254/128), unspecified address (0.0.0.0/8, ::/128), link-local address (169.254.0.0/16, fe80::/10); loopback: refused; refusing also: nothing (PROBE_DENY_CIDRS); probing: any other address (PROBE_ALLOW_CIDRS)',
    );
    expect(rules({ PROBE_ALLOW_LOOPBACK: true, PROBE_DENY_CIDRS: '10.9.0.0/16', PROBE_ALLOW_CIDRS: '10.0.0.0/8' }).describe()).toMatch(
      /loopback: probed \(PROBE_ALLOW_LOOPBACK=true\); refusing also: 10\.9\.0\.0\/16 \(PROBE_DENY_CIDRS\); probing: only 10\.0\.0\.0\/8 \(PROBE_ALLOW_CIDRS\)$/,
    );
  });

  it('takes CIDR lists in plain notation only (a CIDR list variable is checked at start)', () => {
    for (const good of ['', 'none', '10.0.0.0/8', ' 10.0.0.0/8 , fd00::/8 ', '0.0.0.0/0', '::/0', '192.168.1.7/32']) expect({ good, ok: isCidrList(good) }).toEqual({ good, ok: true });
    for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fe80::/129', '0177.0.0.1/8', '0x0a.0.0.0/8', '10.1/16', '10.0.0.0/8,', 'nowhere', 'fe80::1%eth0/64', '10.0.0.0/-1'])
      expect({ bad, ok: isCidrList(bad) }).toEqual({ bad, ok: false });
    expect(() => rules({ PROBE_ALLOW_CIDRS: '10.0.0.0' })).toThrow(/PROBE_ALLOW_CIDRS/);
  });
});
