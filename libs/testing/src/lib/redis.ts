import { createClient } from 'redis';
import { testInfra, uniqueSuffix } from './env';

/** A Redis key prefix of this test's own. */
export function testKeyPrefix(): string {
  return `tm:test:${uniqueSuffix()}:`;
}

/** Deletes every key under a test prefix; refuses a prefix that is not a test one. */
export async function deleteKeysWithPrefix(prefix: string, url = testInfra().redisUrl): Promise<number> {
  if (!prefix.startsWith('tm:test:')) throw new Error(`refusing to delete keys under ${prefix}: not a test prefix`);
  const client = createClient({ url });
  await client.connect();
  let deleted = 0;
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      if (keys.length > 0) deleted += await client.unlink(keys);
    }
  } finally {
    await client.close();
  }
  return deleted;
}
