import type { KafkaMessage, RecordBatchEntry } from 'kafkajs';
import { offsetsByTopic, toConsumedBatch, toConsumedMessage } from './consumer';

/** A message as kafkajs's record batches decode it. */
function message(fields: Partial<RecordBatchEntry>): KafkaMessage {
  return { key: null, value: null, timestamp: '0', attributes: 0, offset: '0', headers: {}, ...fields };
}

describe('toConsumedMessage', () => {
  it('decodes the key as UTF-8 and keeps the value as bytes, the offset as a string and the timestamp as a number', () => {
    const value = Buffer.from('{"a":1}');
    expect(toConsumedMessage('t', 2, message({ key: Buffer.from('acme/web/prod'), value, offset: '41', timestamp: '1700000000123' }))).toEqual({
      topic: 't',
      partition: 2,
      offset: '41',
      key: 'acme/web/prod',
      value,
      timestamp: 1_700_000_000_123,
      headers: {},
    });
  });

  it('a message without a key or value has null for them', () => {
    const m = toConsumedMessage('t', 0, message({}));
    expect(m.key).toBeNull();
    expect(m.value).toBeNull();
  });

  it('headers are bytes; one sent twice is a list in order; a null value is left out', () => {
    const headers = { one: Buffer.from('1'), text: 'x', twice: [Buffer.from('a'), Buffer.from('b')], none: null } as unknown as KafkaMessage['headers'];
    expect(toConsumedMessage('t', 0, message({ headers })).headers).toEqual({ one: Buffer.from('1'), text: Buffer.from('x'), twice: [Buffer.from('a'), Buffer.from('b')] });
    expect(toConsumedMessage('t', 0, message({ headers: undefined })).headers).toEqual({});
  });
});

describe('toConsumedBatch', () => {
  it('keeps the topic, partition, high watermark and the messages in order, each with its topic and partition', () => {
    const batch = toConsumedBatch({ topic: 't', partition: 1, highWatermark: '12', messages: [message({ offset: '10' }), message({ offset: '11' })] });
    expect(batch).toMatchObject({ topic: 't', partition: 1, highWatermark: '12' });
    expect(batch.messages.map((m) => [m.topic, m.partition, m.offset])).toEqual([
      ['t', 1, '10'],
      ['t', 1, '11'],
    ]);
  });
});

describe('offsetsByTopic', () => {
  it('groups partition offsets by topic, in order of first appearance', () => {
    expect(
      offsetsByTopic([
        { topic: 'a', partition: 0, offset: '5' },
        { topic: 'b', partition: 1, offset: '7' },
        { topic: 'a', partition: 2, offset: '9' },
      ]),
    ).toEqual({
      topics: [
        { topic: 'a', partitions: [{ partition: 0, offset: '5' }, { partition: 2, offset: '9' }] },
        { topic: 'b', partitions: [{ partition: 1, offset: '7' }] },
      ],
    });
    expect(offsetsByTopic([])).toEqual({ topics: [] });
  });
});
