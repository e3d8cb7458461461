import { type Logger, pino } from "pino";

/**
 * Paths pino replaces with "[redacted]" wherever they appear in a log object. Job
 * configs are never logged whole (log a job's id, not its config), but a header or
 * environment map that slips into an object is still masked.
 */
export const REDACT_PATHS = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  'req.headers["x-service-token"]',
  "*.headers",
  "*.environment",
  "config.headers",
  "config.environment",
  "*.config.headers",
  "*.config.environment",
  "token",
  "*.token",
  "password",
  "*.password",
];

export function createLogger(options: { name: string; level: string }): Logger {
  return pino({
    name: options.name,
    level: options.level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

export type { Logger };
