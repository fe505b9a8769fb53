export { LocalStorageBackend, type LocalStorageOptions } from './local-storage.js';
