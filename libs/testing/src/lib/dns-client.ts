import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as packet from 'dns-packet';
import type { DecodedPacket, Packet, RecordType } from 'dns-packet';

/** A query as a test sends it: a name and a type, over UDP unless told, with EDNS when `udpSize` is given. */
export interface TestQuery {
  name: string;
  type?: RecordType | 'ANY';
  tcp?: boolean;
  /** EDNS(0) with this UDP payload size. */
  udpSize?: number;
  /** The message as bytes (a malformed one): sent as it is. */
  raw?: Buffer;
}

/** A decoded answer with its rcode (dns-packet's decode gives it, its typings do not). */
export type TestAnswer = DecodedPacket & { rcode: string };

/**
 * A minimal DNS client for integration tests (dns-packet over UDP or TCP, one query, a timeout):
 * the end-to-end tests use dig and Node's resolver instead, clients nobody here wrote.
 */
export async function dnsQuery(port: number, query: TestQuery, timeoutMs = 2_000): Promise<TestAnswer> {
  const message =
    query.raw ??
    packet.encode({
      type: 'query',
      id: Math.floor(Math.random() * 65_536),
      flags: packet.RECURSION_DESIRED,
      questions: [{ name: query.name, type: (query.type ?? 'A') as RecordType, class: 'IN' }],
      additionals: query.udpSize === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: query.udpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    } as Packet);
  const bytes = query.tcp ? await overTcp(port, message, timeoutMs) : await overUdp(port, message, timeoutMs);
  return packet.decode(bytes) as TestAnswer;
}

/** Sends `message` over UDP and gives the first datagram back, or undefined past the timeout. */
export function sendUdp(port: number, message: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      socket.close();
      reject(e);
    });
    socket.once('message', (reply) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    });
    socket.send(message, port, '127.0.0.1');
  });
}

async function overUdp(port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  const reply = await sendUdp(port, message, timeoutMs);
  if (!reply) throw new Error(`no DNS answer over UDP within ${timeoutMs} ms`);
  return reply;
}

/** Sends `message` (length-prefixed) over TCP and gives the first answer back. */
export function overTcp(port: number, message: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no DNS answer over TCP within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      }
    });
    const framed = Buffer.alloc(2 + message.length);
    framed.writeUInt16BE(message.length, 0);
    message.copy(framed, 2);
    socket.write(framed);
  });
}
