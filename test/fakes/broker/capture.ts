export { CapturingLogger, CapturingTelemetry } from '../capture';
