import { readFile } from 'node:fs/promises';
import { loadBackend, type AgeKeys } from './backends.js';
import { CliError } from './errors.js';

function invalid(message: string): CliError {
  return new CliError('HADB_CLI_INVALID_CONFIG', message);
}

/**
 * Resolves age keys from config values: each identity is an `AGE-SECRET-KEY-…` string (for
 * example from `${ENV}`) or the path of an identity file (`age-keygen` output); recipients are
 * `age1…` strings. Without recipients, the identities' own recipients are used (so reading
 * needs only the identity). Key material never appears in errors.
 */
export async function resolveAgeKeys(
  identities: readonly string[],
  recipients: readonly string[],
  where: string,
): Promise<AgeKeys | undefined> {
  if (identities.length === 0) {
    if (recipients.length > 0)
      throw invalid(
        `${where}: age-recipients without age-identities; restores and the replicator must read what they write`,
      );
    return undefined;
  }
  const age = await loadBackend('storage-age');
  const ids: string[] = [];
  for (const entry of identities) {
    if (/^AGE-SECRET-KEY-/i.test(entry.trim())) {
      ids.push(entry.trim());
      continue;
    }
    let text: string;
    try {
      text = await readFile(entry, 'utf8');
    } catch (error) {
      throw invalid(
        `${where}: cannot read age identity file ${entry}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const parsed = age.parseIdentities(text);
    if (parsed.length === 0) throw invalid(`${where}: age identity file ${entry} holds no AGE-SECRET-KEY`);
    ids.push(...parsed);
  }
  for (const r of recipients) if (!/^age1/i.test(r)) throw invalid(`${where}: age recipient must start with age1`);
  const own = recipients.length > 0 ? [...recipients] : await Promise.all(ids.map((i) => age.identityToRecipient(i)));
  return { identities: ids, recipients: own };
}
