export { CapturingTelemetry } from '../capture';
