import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import type { z } from "zod";
import { AppError, assertNever } from "./errors.js";
import { JOB_CONFIG_SCHEMAS, type JobConfig, type JobType } from "./job.js";

/**
 * The AES-256-GCM keys of CONFIG_ENCRYPTION_KEY. Keys are KeyObjects, so logging or
 * inspecting a ring never prints key material.
 */
export interface KeyRing {
  /** Id of the key new encryptions use: the first entry of CONFIG_ENCRYPTION_KEY. */
  readonly encryptingKeyId: string;
  /** Every key that can decrypt, by id. */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

/**
 * A stored secret value. The key id sits beside the ciphertext so that a ring holding
 * old and new keys can still open values sealed before a rotation.
 */
export interface SealedValue {
  $enc: "v1";
  /** Id of the key that sealed the value. */
  kid: string;
  /** 96-bit nonce, base64. */
  iv: string;
  /** Ciphertext, base64. */
  ct: string;
  /** 128-bit GCM tag, base64. */
  tag: string;
}

/** The config type of a jobType. */
export type ConfigOf<T extends JobType> = z.infer<(typeof JOB_CONFIG_SCHEMAS)[T]>;

/** What an update sends for a secret to keep its stored value; what the API shows for one. */
export const MASK = "******";

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Shorter secrets are not scrubbed: replacing e.g. "on" everywhere would mangle output. */
const MIN_SCRUBBED_LENGTH = 4;
/** Cookie values shorter than this are not scrubbed on their own (the whole header is). */
const MIN_COOKIE_VALUE_LENGTH = 8;

/** Thrown when a stored secret cannot be opened. Its message names the field only. */
export class SecretError extends Error {
  override name = "SecretError";
}

/**
 * Parses CONFIG_ENCRYPTION_KEY: comma-separated `<keyId>:<base64 of 32 bytes>`. The
 * first key encrypts, all decrypt. Errors name the entry's position and key id, never
 * the key.
 */
export function parseKeyRing(value: string): KeyRing {
  const keys = new Map<string, KeyObject>();
  const entries = value
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error("CONFIG_ENCRYPTION_KEY holds no key");
  entries.forEach((entry, index) => {
    const separator = entry.indexOf(":");
    const id = entry.slice(0, separator);
    const where = `CONFIG_ENCRYPTION_KEY entry ${index + 1}`;
    if (separator < 0 || !KEY_ID.test(id)) {
      throw new Error(`${where} must be '<keyId>:<base64 of 32 bytes>' with keyId [A-Za-z0-9_-]`);
    }
    const encoded = entry.slice(separator + 1);
    const key = Buffer.from(encoded, "base64");
    // Buffer.from ignores bad characters; the round trip refuses what it silently dropped.
    if (key.length !== 32 || key.toString("base64") !== encoded) {
      throw new Error(`${where} (key id '${id}') is not the base64 of exactly 32 bytes`);
    }
    if (keys.has(id)) throw new Error(`${where} repeats key id '${id}'`);
    keys.set(id, createSecretKey(key));
  });
  return { encryptingKeyId: entries[0]!.slice(0, entries[0]!.indexOf(":")), keys };
}

/**
 * Whether an HTTP header's value is a secret, as API.md defines it: Authorization,
 * Cookie, Proxy-Authorization, or a name containing token, secret, key or password.
 */
export function isSecretHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return (
    lower === "authorization" ||
    lower === "cookie" ||
    lower === "proxy-authorization" ||
    /token|secret|key|password/.test(lower)
  );
}

export function isSealedValue(value: unknown): value is SealedValue {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v.$enc === "v1" &&
    typeof v.kid === "string" &&
    typeof v.iv === "string" &&
    typeof v.ct === "string" &&
    typeof v.tag === "string"
  );
}

/** Which map of a config holds secrets, and which of its entries are secret. */
interface SecretSlot {
  field: "headers" | "environment";
  isSecret(name: string): boolean;
}

function secretSlotOf(jobType: JobType): SecretSlot | undefined {
  switch (jobType) {
    case "http":
      return { field: "headers", isSecret: isSecretHeader };
    case "command":
      return { field: "environment", isSecret: () => true };
    case "function":
      return undefined;
    default:
      return assertNever(jobType);
  }
}

function entriesOf(config: unknown, field: string): [string, unknown][] | undefined {
  if (typeof config !== "object" || config === null) return undefined;
  const map = (config as Record<string, unknown>)[field];
  if (typeof map !== "object" || map === null || Array.isArray(map)) return undefined;
  return Object.entries(map);
}

/** Copies `config`, replacing each secret entry's value by `transform(name, value)`. */
function mapSecrets(
  jobType: JobType,
  config: unknown,
  transform: (name: string, value: unknown, field: string) => unknown,
): unknown {
  const slot = secretSlotOf(jobType);
  const entries = slot && entriesOf(config, slot.field);
  if (!slot || !entries) return config;
  const mapped = entries.map(([name, value]) => [
    name,
    slot.isSecret(name) || isSealedValue(value)
      ? transform(name, value, `config.${slot.field}.${name}`)
      : value,
  ]);
  return { ...(config as object), [slot.field]: Object.fromEntries(mapped) };
}

/**
 * The config to store: every secret value (secret HTTP header values, every command
 * environment value) sealed with the ring's first key. A value of exactly "******"
 * keeps the value stored in `previous` under the same name (header names compare
 * case-insensitively, as HTTP does); with none to keep, it is an INVALID_JOB_CONFIG.
 */
export function sealConfig(
  jobType: JobType,
  config: JobConfig,
  ring: KeyRing,
  previous?: unknown,
): unknown {
  const slot = secretSlotOf(jobType);
  const stored = slot ? (entriesOf(previous, slot.field) ?? []) : [];
  const sameName = (a: string, b: string) =>
    slot?.field === "headers" ? a.toLowerCase() === b.toLowerCase() : a === b;
  return mapSecrets(jobType, config, (name, value, field) => {
    if (value === MASK) {
      const kept = stored.find(([n, v]) => sameName(n, name) && isSealedValue(v))?.[1];
      if (kept) return kept;
      throw new AppError("INVALID_JOB_CONFIG", `${field} is "******" but no stored value to keep`, {
        field,
      });
    }
    if (typeof value !== "string") {
      throw new AppError("INVALID_JOB_CONFIG", `${field} must be a string`, { field });
    }
    return sealValue(value, ring);
  });
}

/**
 * The config a run uses: every sealed value opened. Throws SecretError when a value
 * was sealed with a key the ring lacks, was tampered with, or a secret slot holds
 * something that is not sealed; the message names the field, never a key or a value.
 */
export function openConfig<T extends JobType>(
  jobType: T,
  stored: unknown,
  ring: KeyRing,
): ConfigOf<T> {
  const opened = mapSecrets(jobType, stored, (_name, value, field) => {
    if (!isSealedValue(value)) throw new SecretError(`${field} is not sealed in the stored config`);
    return openValue(value, ring, field);
  });
  const parsed = JOB_CONFIG_SCHEMAS[jobType].safeParse(opened);
  if (!parsed.success) {
    // zod messages can quote the input; only the paths are safe to show.
    const fields = parsed.error.issues.map((i) => ["config", ...i.path.map(String)].join("."));
    throw new SecretError(`stored ${jobType} config is invalid at ${fields.join(", ")}`);
  }
  return parsed.data as ConfigOf<T>;
}

/** A stored config opened and sealed again with the ring's first key: for key rotation. */
export function resealConfig(jobType: JobType, stored: unknown, ring: KeyRing): unknown {
  return sealConfig(jobType, openConfig(jobType, stored, ring), ring);
}

/** Whether a stored config holds a value sealed with a key other than the ring's first. */
export function needsReseal(jobType: JobType, stored: unknown, ring: KeyRing): boolean {
  let stale = false;
  mapSecrets(jobType, stored, (_name, value) => {
    if (isSealedValue(value) && value.kid !== ring.encryptingKeyId) stale = true;
    return value;
  });
  return stale;
}

/** What the API shows of a stored config: every secret value as "******". */
export function maskConfig(jobType: JobType, stored: unknown): unknown {
  return mapSecrets(jobType, stored, () => MASK);
}

/**
 * The plaintext secrets of an opened config, for scrubSecrets. Besides each value it
 * lists the forms a target is likely to echo: the credential of an `Authorization:
 * <scheme> <credential>` value, the `user:password` inside Basic, each value of a
 * Cookie header, the percent-encoded value, and JSON-escaped text.
 */
export function secretValuesOf(jobType: JobType, config: JobConfig): string[] {
  const values = new Set<string>();
  mapSecrets(jobType, config, (name, value) => {
    if (typeof value !== "string") return value;
    values.add(value);
    // A target that parses cookies echoes each value on its own (`sid=abc; t=x` → abc).
    // Short ones (`remember=true`) are left: masking every `true` would hide nothing.
    if (/cookie/i.test(name)) {
      for (const pair of value.split(";")) {
        const cookie = pair.slice(pair.indexOf("=") + 1).trim();
        if (pair.includes("=") && cookie.length >= MIN_COOKIE_VALUE_LENGTH) values.add(cookie);
      }
    }
    // As a query string or form body carries it.
    values.add(encodeURIComponent(value));
    const scheme = /^(\S+)\s+(\S.*)$/.exec(value);
    if (scheme) {
      values.add(scheme[2]!);
      if (scheme[1]!.toLowerCase() === "basic") {
        const decoded = Buffer.from(scheme[2]!, "base64").toString("utf8");
        if (decoded.includes(":")) values.add(decoded).add(decoded.slice(decoded.indexOf(":") + 1));
      }
    }
    values.add(JSON.stringify(value).slice(1, -1));
    return value;
  });
  return [...values].filter((v) => v.length >= MIN_SCRUBBED_LENGTH);
}

/**
 * A deep copy of `value` in which every occurrence of every secret inside a string
 * (object keys included) reads "******". Secrets shorter than 4 characters are left
 * alone. Longer secrets are matched first, so one that contains another goes whole.
 */
export function scrubSecrets<T>(value: T, secrets: readonly string[]): T {
  const kept = [...new Set(secrets)]
    .filter((s) => s.length >= MIN_SCRUBBED_LENGTH)
    .sort((a, b) => b.length - a.length);
  if (kept.length === 0) return structuredCopy(value, (s) => s);
  const pattern = new RegExp(kept.map(escapeRegExp).join("|"), "g");
  const cuts = kept.filter((k) => k.length > MIN_CUT_FRAGMENT).map(cutMatcher);
  return structuredCopy(value, (s) => maskCutEnds(s.replace(pattern, MASK), cuts));
}

/**
 * Outputs are kept up to a limit: an HTTP body's first 64 KiB, a command's last. A
 * secret the limit cut through leaves its start at the end of the text, or its end
 * at the start, where no whole value matches. Such a fragment of at least this many
 * characters is masked too; a shorter one tells little and could be anything.
 */
const MIN_CUT_FRAGMENT = 8;

interface CutMatcher {
  forward: { pattern: string; failure: Int32Array };
  backward: { pattern: string; failure: Int32Array };
}

function cutMatcher(secret: string): CutMatcher {
  const reversed = secret.split("").reverse().join("");
  return {
    forward: { pattern: secret, failure: failureOf(secret) },
    backward: { pattern: reversed, failure: failureOf(reversed) },
  };
}

/** Knuth–Morris–Pratt failure function: for each prefix, its longest proper border. */
function failureOf(pattern: string): Int32Array {
  const failure = new Int32Array(pattern.length);
  for (let i = 1, k = 0; i < pattern.length; i++) {
    while (k > 0 && pattern[i] !== pattern[k]) k = failure[k - 1]!;
    if (pattern[i] === pattern[k]) k++;
    failure[i] = k;
  }
  return failure;
}

/** The length of the longest end of `text` that is a proper start of the pattern. */
function overlap(text: string, { pattern, failure }: CutMatcher["forward"]): number {
  let k = 0;
  for (let i = Math.max(0, text.length - pattern.length + 1); i < text.length; i++) {
    while (k > 0 && (k === pattern.length || text[i] !== pattern[k])) k = failure[k - 1]!;
    if (text[i] === pattern[k]) k++;
  }
  return k < pattern.length ? k : 0;
}

function maskCutEnds(text: string, cuts: readonly CutMatcher[]): string {
  if (text.length < MIN_CUT_FRAGMENT || cuts.length === 0) return text;
  let head = 0;
  let tail = 0;
  const longest = Math.max(...cuts.map((cut) => cut.forward.pattern.length));
  const start = text.slice(0, longest).split("").reverse().join("");
  for (const cut of cuts) {
    tail = Math.max(tail, overlap(text, cut.forward));
    head = Math.max(head, overlap(start, cut.backward));
  }
  if (tail < MIN_CUT_FRAGMENT) tail = 0;
  if (head < MIN_CUT_FRAGMENT) head = 0;
  if (head === 0 && tail === 0) return text;
  if (head + tail >= text.length) return MASK;
  return (head ? MASK : "") + text.slice(head, text.length - tail) + (tail ? MASK : "");
}

function structuredCopy<T>(value: T, scrub: (s: string) => string): T {
  const seen = new WeakMap<object, unknown>();
  const copy = (v: unknown): unknown => {
    if (typeof v === "string") return scrub(v);
    if (typeof v !== "object" || v === null) return v;
    if (seen.has(v)) return seen.get(v);
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      seen.set(v, out);
      for (const item of v) out.push(copy(item));
      return out;
    }
    if (v instanceof Date) return new Date(v.getTime());
    if (v instanceof Error) {
      const out = new Error(scrub(v.message));
      out.name = v.name;
      if (v.stack) out.stack = scrub(v.stack);
      seen.set(v, out);
      return out;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return v;
    const out: Record<string, unknown> = {};
    seen.set(v, out);
    for (const [k, item] of Object.entries(v)) out[scrub(k)] = copy(item);
    return out;
  };
  return copy(value) as T;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function sealValue(plaintext: string, ring: KeyRing): SealedValue {
  const key = ring.keys.get(ring.encryptingKeyId)!;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return {
    $enc: "v1",
    kid: ring.encryptingKeyId,
    iv: iv.toString("base64"),
    ct: ct.toString("base64"),
    tag: cipher.getAuthTag().toString("base64"),
  };
}

function openValue(sealed: SealedValue, ring: KeyRing, field: string): string {
  const key = ring.keys.get(sealed.kid);
  if (!key) throw new SecretError(`${field} was sealed with a key CONFIG_ENCRYPTION_KEY lacks`);
  const iv = Buffer.from(sealed.iv, "base64");
  const tag = Buffer.from(sealed.tag, "base64");
  // A short tag would weaken GCM's integrity check: accept only the full 128 bits.
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new SecretError(`${field} is not a well-formed sealed value`);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([
      decipher.update(Buffer.from(sealed.ct, "base64")),
      decipher.final(),
    ]);
    return plain.toString("utf8");
  } catch {
    throw new SecretError(`${field} failed its integrity check (tampered, or a different key)`);
  }
}
