/**
 * What PostgreSQL refuses in a `text` or `jsonb` value, replaced by U+FFFD: the NUL
 * character (text cannot hold it; jsonb refuses `\u0000` in its strings) and UTF-16
 * surrogates without their pair (jsonb refuses their escapes; text would get U+FFFD
 * from the encoder anyway). An execution's output is whatever its target sent; the
 * rest of it is kept rather than the write failing.
 */
export function storableText(text: string): string {
  return text.replace(REFUSED, "\uFFFD");
}

/** NUL, a high surrogate not followed by a low one, a low one not preceded by a high one. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this looks for.
const REFUSED = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A JSON value with storableText applied to every string in it, keys included. */
export function storableJson(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value === null || typeof value !== "object") return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[storableText(key)] = storableJson(item);
  return out;
}

/** storableText for a nullable column. */
export function storableTextOrNull(text: string | null | undefined): string | null {
  return text === null || text === undefined ? null : storableText(text);
}
