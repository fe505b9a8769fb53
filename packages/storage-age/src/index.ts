export {
  EncryptedStorageBackend,
  encryptedStorage,
  type EncryptedStorageOptions,
  type OpenEncryptedStorageOptions,
} from './encrypted-storage.js';
export { StorageAgeError, isStorageAgeError, type StorageAgeErrorCode } from './errors.js';
export { parseIdentities, type RecipientKind } from './keyring.js';
export { BINDING_STANZA, bindingOf } from './binding.js';
export { generateHybridIdentity, generateX25519Identity, identityToRecipient } from 'age-encryption';
