import { CliError } from './errors.js';

/**
 * Expands `${NAME}` and `${NAME:-default}` in `text` from `env` (`$$` is a literal `$`). An unset
 * variable without a default is `HADB_CLI_INVALID_CONFIG` naming the variable (never its value).
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, where: string): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$$') return '$';
      const value = env[name!];
      if (value !== undefined && value !== '') return value;
      if (fallback !== undefined) return fallback;
      throw new CliError('HADB_CLI_INVALID_CONFIG', `${where}: environment variable ${name} is not set`);
    },
  );
}
