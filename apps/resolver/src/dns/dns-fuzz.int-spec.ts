import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import * as packet from 'dns-packet';
import { seededRandom } from '@tm/contracts';
import { dnsQuery, freeDnsPort, overTcp } from '@tm/testing';
import { ResolverUnderTest } from '../resolver.test-support';
import { DnsServer } from './dns-server';

const SEED = 20_261_207;
const CASES = 6_000;

/** A valid query to start mutations from. */
function query(name: string, type: packet.RecordType, id: number): Buffer {
  return packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] });
}

/**
 * Malformed messages, generated from a seed (replayable): each kind the server must survive, and
 * random bytes and mutations of valid queries besides.
 */
function malformed(random: () => number): { kind: string; bytes: Buffer }[] {
  const int = (n: number) => Math.floor(random() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const names = ['prod.web.acme.tm.internal', '_http._tcp.prod.web.acme.tm.internal', 'tm.internal', 'example.com'];
  const valid = () => query(names[int(names.length)] as string, (['A', 'AAAA', 'SRV', 'TXT', 'NS'] as const)[int(5)], int(65_536));
  const header = (counts: [number, number, number, number], flags = 0) => {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(int(65_536), 0);
    h.writeUInt16BE(flags, 2);
    counts.forEach((c, i) => h.writeUInt16BE(c, 4 + 2 * i));
    return h;
  };
  const generators: [string, () => Buffer][] = [
    ['random bytes', () => bytes(int(600))],
    ['truncated query', () => valid().subarray(0, int(valid().length))],
    ['shorter than a header', () => bytes(int(12))],
    // A name that points at itself, or two names pointing at each other.
    ['compression loop', () => Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])])],
    ['compression pair', () => Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0xc0, 14, 0xc0, 12, 0, 1, 0, 1])])],
    ['pointer past the end', () => Buffer.concat([header([1, 0, 0, 0]), Buffer.from([0xc0, 0xff, 0, 1, 0, 1])])],
    ['huge counts', () => Buffer.concat([header([65_535, 65_535, 65_535, 65_535]), valid().subarray(12)])],
    ['unknown class', () => {
      const q = valid();
      q.writeUInt16BE(7 + int(200), q.length - 2);
      return q;
    }],
    ['query of 4 KB', () => Buffer.concat([valid(), bytes(4_096)])],
    ['label too long', () => Buffer.concat([header([1, 0, 0, 0]), Buffer.from([63 + int(64)]), bytes(int(200)), Buffer.from([0, 0, 1, 0, 1])])],
    ['bit flips', () => {
      const q = valid();
      for (let i = 0; i < 1 + int(4); i++) q[int(q.length)] ^= 1 << int(8);
      return q;
    }],
    ['byte changes', () => {
      const q = valid();
      for (let i = 0; i < 1 + int(6); i++) q[int(q.length)] = int(256);
      return q;
    }],
    ['a response', () => {
      const q = valid();
      q[2] = (q[2] as number) | 0x80;
      return q;
    }],
    ['every opcode', () => {
      const q = valid();
      q[2] = ((q[2] as number) & 0x87) | (int(16) << 3);
      return q;
    }],
  ];
  return Array.from({ length: CASES }, () => {
    const [kind, make] = generators[int(generators.length)] as [string, () => Buffer];
    return { kind, bytes: make() };
  });
}

/**
 * The DNS port against thousands of malformed messages (seeded): the server answers each with FORMERR
 * (or another code) or nothing, never throws, never leaves a socket hanging, and answers real queries
 * after, over UDP and TCP.
 */
describe('DNS fuzz', () => {
  let r: ResolverUnderTest;
  let port: number;
  beforeAll(async () => {
    port = await freeDnsPort();
    r = await ResolverUnderTest.start({ env: { RESOLVER_DNS_PORT: String(port) } });
    await r.openToDns('acme');
    await r.write('acme/web/prod', 'http://10.4.4.4/');
  });
  afterAll(async () => {
    await r?.stop();
  });

  it(`answers ${CASES} malformed messages with a code or nothing, and real queries after`, async () => {
    const cases = malformed(seededRandom(SEED));
    const server = r.app.get(DnsServer);
    const outcomes = new Map<string, number>();
    for (const c of cases) {
      const handled = await server.handle(c.bytes, 'udp', false);
      const key = `${c.kind}: ${handled.reply ? (packet.decode(handled.reply) as unknown as { rcode: string }).rcode : 'nothing'}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      // An answer is always a response to this message's id, and never longer than a UDP answer may be.
      if (handled.reply) {
        expect(handled.reply.readUInt16BE(0)).toBe(c.bytes.readUInt16BE(0));
        expect(handled.reply.readUInt8(2) & 0x80).toBe(0x80);
        // 512 bytes without EDNS (the answer has an OPT record only when the query had one), 1232 with it.
        const edns = (packet.decode(handled.reply).additionals ?? []).some((a) => a.type === 'OPT');
        expect(handled.reply.length).toBeLessThanOrEqual(edns ? 1232 : 512);
      }
    }
    // Each kind of malformation ran, and what cannot be read got FORMERR.
    for (const kind of ['compression loop', 'compression pair', 'pointer past the end', 'huge counts', 'label too long']) expect(outcomes.get(`${kind}: FORMERR`)).toBeGreaterThan(0);
    expect(outcomes.get('unknown class: FORMERR')).toBeGreaterThan(0);
    expect(outcomes.get('shorter than a header: nothing')).toBeGreaterThan(0);
    expect(outcomes.get('a response: nothing')).toBeGreaterThan(0);
    expect(outcomes.get('every opcode: NOTIMP')).toBeGreaterThan(0);

    // The same messages through the socket, as fast as they go, then garbage over TCP.
    const udp = createSocket('udp4');
    await new Promise<void>((res) => udp.bind(0, '127.0.0.1', () => res()));
    for (const c of cases) await new Promise<void>((res) => udp.send(c.bytes, port, '127.0.0.1', () => res()));
    udp.close();
    await Promise.all(
      cases.slice(0, 200).map(
        (c) =>
          new Promise<void>((res) => {
            const socket = connect(port, '127.0.0.1');
            socket.on('error', () => res());
            socket.on('close', () => res());
            // A length that promises more than is sent (the server's idle timeout ends it), or the message as it is.
            const framed = Buffer.alloc(2 + c.bytes.length);
            framed.writeUInt16BE(c.bytes.length + (c.bytes.length % 3 === 0 ? 7 : 0), 0);
            c.bytes.copy(framed, 2);
            socket.end(framed);
            setTimeout(() => {
              socket.destroy();
              res();
            }, 200);
          }),
      ),
    );
    const alive = await dnsQuery(port, { name: 'prod.web.acme.tm.internal' });
    expect(alive.answers?.[0]).toMatchObject({ type: 'A', data: '10.4.4.4' });
    const overTcpAlive = packet.decode(await overTcp(port, query('prod.web.acme.tm.internal', 'A', 9), 2_000));
    expect(overTcpAlive.answers?.[0]).toMatchObject({ data: '10.4.4.4' });
  });
});
