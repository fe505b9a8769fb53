export { SERVICE_ENV, testService, type ServiceAvailability, type ServiceName } from './services.js';
