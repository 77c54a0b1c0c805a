import { Client } from 'pg';
import { ReplicatedPostgres } from './replicated-postgres';

async function revisionOn(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return Number((await client.query<{ revision: string }>('SELECT revision FROM store_revision WHERE id = 1')).rows[0]?.revision);
  } finally {
    await client.end();
  }
}

async function bump(url: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('UPDATE store_revision SET revision = revision + 1');
  } finally {
    await client.end();
  }
}

describe('ReplicatedPostgres (a primary and a streaming replica of the test own)', () => {
  let cluster: ReplicatedPostgres;

  beforeAll(async () => {
    cluster = await ReplicatedPostgres.start();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('replays the primary, pauses and resumes replay, and comes back after a kill', async () => {
    const before = await revisionOn(cluster.primaryUrl);
    await bump(cluster.primaryUrl);
    await cluster.caughtUp();
    expect(await revisionOn(cluster.replicaUrl)).toBe(before + 1);

    await cluster.pauseReplay();
    await bump(cluster.primaryUrl);
    await expect(cluster.caughtUp(300)).rejects.toThrow(/did not replay/);
    expect(await revisionOn(cluster.replicaUrl)).toBe(before + 1);
    await cluster.resumeReplay();
    await cluster.caughtUp();
    expect(await revisionOn(cluster.replicaUrl)).toBe(before + 2);

    cluster.killReplica();
    await expect(revisionOn(cluster.replicaUrl)).rejects.toThrow();
    await bump(cluster.primaryUrl);
    await cluster.startReplica();
    await cluster.caughtUp();
    expect(await revisionOn(cluster.replicaUrl)).toBe(before + 3);
  }, 60_000);

  it('refuses writes on the replica', async () => {
    await expect(bump(cluster.replicaUrl)).rejects.toThrow(/read-only/);
  });
});
