/**
 * Structured JSON logs (winston). Log calls pass fields, never resource content: nothing that
 * identifies a person (NHS number, name, free text) is ever a log field.
 */
import winston from 'winston';

/** `level` is LOG_LEVEL, checked by the configuration (src/cli/config.ts). */
export function createLogger(level = 'info'): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}
