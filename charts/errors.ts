/**
 * A configuration mistake found before anything is written. Its message is one sentence that names
 * the prop, the value given and what is allowed; tests pin the exact text.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Formats a value for an error message: strings quoted, everything else as JSON. */
export function show(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
}

export function requireInteger(owner: string, prop: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`;
    throw new ConfigError(`${owner}: '${prop}' (${show(value)}) must be ${range}.`);
  }
}

export function requireOneOf<T extends string>(owner: string, prop: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(`${owner}: '${prop}' (${show(value)}) must be one of ${allowed.join(', ')}.`);
  }
  return value as T;
}
