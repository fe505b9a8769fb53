export { run } from './main.js';
export { EXIT, exitCodeOf, type ExitCode } from './exit-codes.js';
export { CliError, isCliError, type CliErrorCode } from './errors.js';
export { parseLeaseUrl, parseStorageUrl, redactUrl, type LeaseTarget, type StorageTarget } from './urls.js';
export type { Io } from './output.js';
