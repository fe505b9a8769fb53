export { SERVICE_ENV, testService, type ServiceAvailability, type ServiceName } from './services.js';
export { MemoryWatch, gc } from './storage/helpers.js';
