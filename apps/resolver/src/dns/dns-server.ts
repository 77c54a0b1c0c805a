import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once, type EventEmitter } from 'node:events';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import * as packet from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer } from 'dns-packet';
import { ResolverConfig } from '../config';
import { DnsAnswers, Rcode, type DnsQuestion, type DnsReply, type RcodeName } from './dns-answers';
import { COUNTED_TYPES, DnsMetrics } from './dns.metrics';
import { ResponseRateLimiter } from './rrl';

/** The largest answer over UDP without EDNS (RFC 1035). */
const UDP_PLAIN_MAX = 512;
/** The largest UDP answer this server sends, whatever EDNS offers (the DNS flag day 2020's 1232: no fragments). */
const UDP_EDNS_MAX = 1232;
/** Open TCP connections at once; past it new ones are closed at once. */
const TCP_CONNECTIONS_MAX = 1_000;
/** Open TCP connections of one source address; past it its new ones are closed at once. */
const TCP_CONNECTIONS_PER_SOURCE = 32;
/** Queries of one TCP connection answered at once (pipelined beyond it: read once these are answered). */
const TCP_PIPELINE_MAX = 16;
/** Answers a TCP client may leave unread; past it the connection is closed (it does not read). */
const TCP_UNREAD_MAX_BYTES = 256 * 1024;
/**
 * Queries waiting on the cache or the database at once (a memory hit never waits). Past it a query
 * is answered SERVFAIL at once: made-up names cannot queue reads of PostgreSQL without bound.
 */
const WAITING_MAX = 100;
/** How long a stop waits for the answers in flight. */
const DRAIN_MS = 2_000;

type Transport = 'udp' | 'tcp';

/** What one message gets: the bytes to send (none: drop) and what to count. */
interface Handled {
  reply: Buffer | undefined;
  type: string;
  rcode: RcodeName | undefined;
  truncated: boolean;
}

/**
 * The resolver's DNS server (docs/dns.md), UDP and TCP on RESOLVER_DNS_PORT: reads a query with
 * dns-packet, answers it with DnsAnswers, and writes the answer within the size the client can take
 * (512 bytes, or its EDNS size up to 1232, over UDP: larger answers are sent truncated, and whole over
 * TCP). A message that cannot be read gets FORMERR when it has a header, else nothing; nothing a
 * message holds can stop the server or hold a socket open (idle TCP connections are closed).
 */
@Injectable()
export class DnsServer implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Dns');
  private udp: Socket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<TcpSocket>();
  private readonly perSource = new Map<string, number>();
  private readonly limiter: ResponseRateLimiter | undefined;
  private readonly idleMs: number;
  /** Messages being handled (UDP and TCP), and queries waiting on the cache or database. */
  private inFlight = 0;
  private waiting = 0;

  constructor(
    private readonly config: ResolverConfig,
    private readonly answers: DnsAnswers,
    private readonly metrics: DnsMetrics,
  ) {
    this.limiter = config.DNS_RRL_PER_SECOND > 0 ? new ResponseRateLimiter(config.DNS_RRL_PER_SECOND) : undefined;
    this.idleMs = config.DNS_TCP_IDLE_MS;
  }

  /** The UDP and TCP port it listens on; undefined when off (RESOLVER_DNS_PORT=0). */
  get port(): number | undefined {
    const address = this.udp?.address();
    return address?.port;
  }

  async onApplicationBootstrap(): Promise<void> {
    const port = this.config.RESOLVER_DNS_PORT;
    if (port === 0) return;
    const host = this.config.HOST;
    // Each listens, or the app stops with one line naming the variable (events.once rejects on 'error').
    const listen = async (transport: 'UDP' | 'TCP', emitter: EventEmitter, start: () => void) => {
      start();
      await once(emitter, 'listening').catch((e: unknown) => {
        throw new Error(`RESOLVER_DNS_PORT: cannot listen on ${host}:${port} (${transport}): ${e instanceof Error ? e.message : String(e)}`);
      });
    };
    const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
    this.udp = udp;
    udp.on('message', (message, remote) => {
      this.onDatagram(message, remote).catch((e: unknown) => this.logger.warn(`DNS over UDP: ${e instanceof Error ? e.message : String(e)}`));
    });
    await listen('UDP', udp, () => udp.bind(port, host));
    udp.on('error', (e) => this.logger.warn(`DNS over UDP: ${e.message}`));
    // Half-open allowed: a client may send its queries and close its side, and still read the answers.
    const tcp = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.onConnection(socket));
    this.tcp = tcp;
    tcp.maxConnections = TCP_CONNECTIONS_MAX;
    tcp.on('drop', () => this.metrics.dropped.inc({ reason: 'tcp_limit' }));
    await listen('TCP', tcp, () => tcp.listen(port, host));
    this.logger.log(`DNS listening on ${host}:${port} (UDP and TCP), zone ${this.answers.zone}`);
  }

  /** Takes no new query (the UDP socket and the TCP listener close), and waits for the answers in flight (DRAIN_MS at most). */
  async beforeApplicationShutdown(): Promise<void> {
    const udp = this.udp;
    this.udp = undefined;
    const tcp = this.tcp;
    this.tcp = undefined;
    const closed = tcp ? new Promise<void>((resolve) => tcp.close(() => resolve())) : Promise.resolve();
    for (const deadline = Date.now() + DRAIN_MS; this.inFlight > 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    for (const socket of this.connections) socket.destroy();
    await closed;
  }

  onApplicationShutdown(): void {
    for (const socket of this.connections) socket.destroy();
  }

  private async onDatagram(message: Buffer, remote: RemoteInfo): Promise<void> {
    const started = performance.now();
    // Port 0 is no port a reply can go to (a forged source): nothing to answer.
    if (remote.port === 0) {
      this.metrics.dropped.inc({ reason: 'bad_source' });
      return;
    }
    const decision = this.limiter?.check(remote.address) ?? 'answer';
    if (decision === 'drop') {
      this.metrics.dropped.inc({ reason: 'rate_limited' });
      return;
    }
    const handled = await this.handle(message, 'udp', decision === 'slip');
    const udp = this.udp;
    if (!handled.reply || !udp) return;
    udp.send(handled.reply, remote.port, remote.address, (e) => {
      if (e) this.metrics.dropped.inc({ reason: 'send_failed' });
    });
    this.count('udp', handled, started);
  }

  private onConnection(socket: TcpSocket): void {
    const source = socket.remoteAddress ?? '';
    const ofSource = (this.perSource.get(source) ?? 0) + 1;
    if (ofSource > TCP_CONNECTIONS_PER_SOURCE) {
      this.metrics.dropped.inc({ reason: 'tcp_limit' });
      socket.destroy();
      return;
    }
    this.perSource.set(source, ofSource);
    this.connections.add(socket);
    this.metrics.tcpConnections.set(this.connections.size);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.connections.delete(socket);
      const left = (this.perSource.get(source) ?? 1) - 1;
      if (left > 0) this.perSource.set(source, left);
      else this.perSource.delete(source);
      this.metrics.tcpConnections.set(this.connections.size);
    });
    // Closed when nothing has been read for DNS_TCP_IDLE_MS, and when a message begun is not whole
    // within it (bytes dribbled one at a time do not keep a connection).
    socket.setTimeout(this.idleMs, () => socket.destroy());
    let partial: NodeJS.Timeout | undefined;
    let buffered: Buffer = Buffer.alloc(0);
    let pending = 0;
    let ended = false;
    const finishIfDone = () => {
      if (ended && pending === 0 && !socket.destroyed) socket.end();
    };
    const next = () => {
      let progressed = false;
      // Each message is two bytes of length, then the message (RFC 1035 4.2.2; RFC 7766).
      while (buffered.length >= 2 && pending < TCP_PIPELINE_MAX) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const message: Buffer = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        progressed = true;
        pending++;
        const started = performance.now();
        void this.handle(message, 'tcp', false)
          .then((handled) => {
            if (handled.reply && !socket.destroyed) {
              const framed = Buffer.allocUnsafe(2 + handled.reply.length);
              framed.writeUInt16BE(handled.reply.length, 0);
              handled.reply.copy(framed, 2);
              socket.write(framed);
              this.count('tcp', handled, started);
              // A client that does not read its answers is not answered without bound.
              if (socket.writableLength > TCP_UNREAD_MAX_BYTES) socket.destroy();
            }
          })
          .catch((e: unknown) => {
            this.logger.warn(`DNS over TCP: ${e instanceof Error ? e.message : String(e)}`);
            socket.destroy();
          })
          .finally(() => {
            pending--;
            resume();
            next();
            finishIfDone();
          });
      }
      // A message begun must be whole within the idle time: the clock restarts only when one is.
      if (progressed || buffered.length === 0) {
        clearTimeout(partial);
        partial = undefined;
      }
      if (buffered.length > 0 && partial === undefined) partial = setTimeout(() => socket.destroy(), this.idleMs);
      if (pending >= TCP_PIPELINE_MAX || socket.writableNeedDrain) socket.pause();
    };
    const resume = () => {
      if (socket.isPaused() && pending < TCP_PIPELINE_MAX && !socket.writableNeedDrain && !ended) socket.resume();
    };
    socket.on('drain', resume);
    socket.on('close', () => clearTimeout(partial));
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      next();
    });
    socket.on('end', () => {
      ended = true;
      finishIfDone();
    });
  }

  private count(transport: Transport, handled: Handled, started: number): void {
    if (handled.rcode) this.metrics.queries.inc({ transport, type: handled.type, rcode: handled.rcode });
    if (handled.truncated) this.metrics.truncated.inc({ transport });
    this.metrics.duration.observe({ transport }, (performance.now() - started) / 1000);
  }

  /** One message: its answer's bytes, or none (no header, or not a query). Never throws. */
  async handle(message: Buffer, transport: Transport, slip: boolean): Promise<Handled> {
    this.inFlight++;
    try {
      return await this.answerMessage(message, transport, slip);
    } finally {
      this.inFlight--;
    }
  }

  private async answerMessage(message: Buffer, transport: Transport, slip: boolean): Promise<Handled> {
    if (message.length < 12) {
      this.metrics.dropped.inc({ reason: 'short' });
      return { reply: undefined, type: 'none', rcode: undefined, truncated: false };
    }
    // A response (QR set) is never answered: two servers must not be made to answer each other.
    if ((message.readUInt8(2) & 0x80) !== 0) {
      this.metrics.dropped.inc({ reason: 'response' });
      return { reply: undefined, type: 'none', rcode: undefined, truncated: false };
    }
    let query: DecodedPacket;
    try {
      query = packet.decode(message);
    } catch {
      return headerOnly(message, 'FORMERR');
    }
    const opcode = (message.readUInt8(2) >> 3) & 0x0f;
    if (opcode !== 0) return headerOnly(message, 'NOTIMP');
    const question = query.questions?.[0];
    const opts = (query.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
    // RFC 6891: one OPT at most, at the root, in the additional section only.
    const misplacedOpt = opts.some((o) => o.name !== '.') || [...(query.answers ?? []), ...(query.authorities ?? [])].some((a) => a.type === 'OPT');
    if (!question || query.questions?.length !== 1 || opts.length > 1 || misplacedOpt || question.class?.startsWith('UNKNOWN') || question.type === 'OPT') {
      return headerOnly(message, 'FORMERR');
    }
    const opt = opts[0];
    const type = COUNTED_TYPES.has(question.type) ? question.type : 'other';
    const q: DnsQuestion = { name: question.name, type: question.type, class: question.class ?? 'IN' };
    let reply: DnsReply;
    if (opt && opt.ednsVersion !== 0) reply = { rcode: 'BADVERS', authoritative: false, answers: [], authorities: [], additionals: [] };
    else if (question.type === 'AXFR' || question.type === 'IXFR') reply = { rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
    else if (slip) reply = { rcode: 'NOERROR', authoritative: false, answers: [], authorities: [], additionals: [] };
    else if (this.waiting >= WAITING_MAX) reply = { rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] };
    else {
      this.waiting++;
      reply = await this.answers
        .answer(q)
        .catch((e: unknown): DnsReply => {
          this.logger.warn(`${q.name} ${q.type}: ${e instanceof Error ? e.message : String(e)}`);
          return { rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] };
        })
        .finally(() => this.waiting--);
    }
    const limit = transport === 'tcp' ? 65_535 : opt ? Math.max(UDP_PLAIN_MAX, Math.min(opt.udpPayloadSize, UDP_EDNS_MAX)) : UDP_PLAIN_MAX;
    try {
      const encoded = this.encode(query, question, reply, opt !== undefined, false);
      if (encoded.length <= limit && !slip) return { reply: encoded, type, rcode: reply.rcode, truncated: false };
      // Too large for the client's UDP size (or slipped by rate limiting): the header and question
      // alone, truncated; the client asks again over TCP.
      return { reply: this.encode(query, question, reply, opt !== undefined, true), type, rcode: reply.rcode, truncated: true };
    } catch (e) {
      // A name dns-packet cannot write back (bytes no label may hold): the answer without the question.
      this.logger.debug(`DNS answer not encoded: ${e instanceof Error ? e.message : String(e)}`);
      return headerOnly(message, reply.rcode === 'NOERROR' || reply.rcode === 'BADVERS' ? 'FORMERR' : reply.rcode);
    }
  }

  private encode(query: DecodedPacket, question: packet.Question, reply: DnsReply, edns: boolean, truncated: boolean): Buffer {
    const code = Rcode[reply.rcode];
    let flags = code & 0x0f;
    if (reply.authoritative) flags |= packet.AUTHORITATIVE_ANSWER;
    if (query.flag_rd) flags |= packet.RECURSION_DESIRED;
    if (query.flag_cd) flags |= packet.CHECKING_DISABLED;
    if (truncated) flags |= packet.TRUNCATED_RESPONSE;
    const additionals: Answer[] = truncated ? [] : [...reply.additionals];
    if (edns) additionals.push({ type: 'OPT', name: '.', udpPayloadSize: UDP_EDNS_MAX, extendedRcode: code >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] });
    return packet.encode({
      type: 'response',
      id: query.id ?? 0,
      flags,
      questions: [{ name: question.name, type: question.type, class: question.class ?? 'IN' }],
      answers: truncated ? [] : reply.answers,
      authorities: truncated ? [] : reply.authorities,
      additionals,
    });
  }
}

/** An answer of the header alone (no question echoed): the query's id and opcode, QR set, the code. */
function headerOnly(message: Buffer, rcode: RcodeName): Handled {
  const reply = Buffer.alloc(12);
  reply.writeUInt16BE(message.readUInt16BE(0), 0);
  const opcodeAndRd = message.readUInt8(2) & 0x79;
  reply.writeUInt8(0x80 | opcodeAndRd, 2);
  reply.writeUInt8(Rcode[rcode] & 0x0f, 3);
  return { reply, type: 'none', rcode, truncated: false };
}
