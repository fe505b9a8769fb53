import { join } from 'node:path';
import { param } from '@hadb/graphstream';
import type { StorageBackend } from '@hadb/storage';
import { GraphFollower } from './follower.js';
import { GraphLeader } from './leader.js';

/** The queries both nodes answer. */
export const QUERIES = [
  'MATCH (p:Person) RETURN p.name AS name, p.age AS age, p.born AS born ORDER BY name',
  'MATCH (a:Person)-[k:Knows]->(b:Person) RETURN a.name AS src, b.name AS dst, k.since AS since ORDER BY src, dst',
  'MATCH (p:Person) RETURN count(*) AS people, avg(p.age) AS avgAge',
];

/**
 * Leader and follower on one object store: the leader creates a schema and data, ships its
 * journal; the follower replays it; both answer {@link QUERIES}. Returns both nodes' answers.
 */
export async function runDemo(
  storage: StorageBackend,
  workDir: string,
): Promise<{ leader: unknown[][]; follower: unknown[][]; applied: number }> {
  const common = { storage, prefix: 'graphs/', db: 'social' };
  const leader = await GraphLeader.open(':memory:', {
    ...common,
    dir: join(workDir, 'leader-journal'),
    fsyncMs: 5,
    uploadIntervalMs: 0,
  });
  const follower = await GraphFollower.open(':memory:', { ...common, dir: join(workDir, 'follower-journal') });
  try {
    await leader.write('CREATE NODE TABLE Person(name STRING, age INT64, born DATE, PRIMARY KEY(name))');
    await leader.write('CREATE REL TABLE Knows(FROM Person TO Person, since INT64)');
    const people: [string, number, string][] = [
      ['Ada', 36, '1815-12-10'],
      ['Alan', 41, '1912-06-23'],
      ['Grace', 85, '1906-12-09'],
    ];
    for (const [name, age, born] of people) {
      await leader.write('CREATE (:Person {name: $name, age: $age, born: $born})', [
        ['name', param.string(name)],
        ['age', param.int(age)],
        ['born', param.date(born)],
      ]);
    }
    await leader.sync();
    let applied = await follower.catchUp();
    await leader.write('MATCH (a:Person {name: $a}), (b:Person {name: $b}) CREATE (a)-[:Knows {since: $since}]->(b)', [
      ['a', param.string('Ada')],
      ['b', param.string('Alan')],
      ['since', param.int(1936)],
    ]);
    await leader.write('MATCH (p:Person {name: $name}) SET p.age = p.age + 1', [['name', param.string('Grace')]]);
    await leader.sync();
    applied += await follower.catchUp();
    const answers = async (read: (q: string) => Promise<Record<string, unknown>[]>): Promise<unknown[][]> => {
      const out: unknown[][] = [];
      for (const q of QUERIES) out.push(await read(q));
      return out;
    };
    return { leader: await answers((q) => leader.read(q)), follower: await answers((q) => follower.read(q)), applied };
  } finally {
    await follower.close();
    await leader.close();
  }
}
