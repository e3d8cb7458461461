import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { isAppError } from "./errors.js";
import { CommandJobConfig, FunctionJobConfig, HttpJobConfig } from "./job.js";
import {
  isSealedValue,
  isSecretHeader,
  MASK,
  maskConfig,
  needsReseal,
  openConfig,
  parseKeyRing,
  resealConfig,
  type SealedValue,
  SecretError,
  scrubSecrets,
  sealConfig,
  secretValuesOf,
} from "./secrets.js";

const keyA = randomBytes(32).toString("base64");
const keyB = randomBytes(32).toString("base64");
const ringA = parseKeyRing(`a:${keyA}`);
const ringBA = parseKeyRing(`b:${keyB}, a:${keyA}`);

const httpConfig = HttpJobConfig.parse({
  url: "https://example.com/hook",
  method: "POST",
  headers: {
    Authorization: "Bearer tok-abcdef123456",
    "X-Api-Key": "key-9876543210",
    "Content-Type": "application/json",
  },
});
const commandConfig = CommandJobConfig.parse({
  command: "backup",
  environment: { DB_PASSWORD: "hunter2-longer", REGION: "eu-west-1" },
});

function headersOf(stored: unknown): Record<string, unknown> {
  return (stored as { headers: Record<string, unknown> }).headers;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

describe("parseKeyRing", () => {
  it("takes the first key to encrypt and keeps every key to decrypt", () => {
    expect(ringBA.encryptingKeyId).toBe("b");
    expect([...ringBA.keys.keys()]).toEqual(["b", "a"]);
  });

  it.each([
    ["an empty value", ""],
    ["an entry without key id", keyA],
    ["a key of 16 bytes", `a:${randomBytes(16).toString("base64")}`],
    ["a key with characters base64 lacks", `a:${keyA.slice(0, -2)}!=`],
    ["a repeated key id", `a:${keyA},a:${keyB}`],
  ])("refuses %s without echoing the key", (_case, value) => {
    const error = thrown(() => parseKeyRing(value));
    expect(error.message).toMatch(/CONFIG_ENCRYPTION_KEY/);
    expect(error.message).not.toContain(keyA);
    expect(error.message).not.toContain(keyB);
  });

  it("prints no key material when inspected or serialised", () => {
    expect(inspect(ringA, { depth: 5 })).not.toContain(keyA);
    expect(JSON.stringify(ringA)).not.toContain(keyA);
  });
});

describe("isSecretHeader", () => {
  it.each([
    ["Authorization", true],
    ["cookie", true],
    ["Proxy-Authorization", true],
    ["X-Auth-Token", true],
    ["X-Client-Secret", true],
    ["x-api-KEY", true],
    ["X-DB-Password", true],
    ["Content-Type", false],
    ["Accept", false],
    ["X-Request-Id", false],
  ])("classifies %s as secret: %s", (name, secret) => {
    expect(isSecretHeader(name)).toBe(secret);
  });
});

describe("sealConfig and openConfig", () => {
  it("round-trips an http config, sealing only the secret headers", () => {
    const stored = sealConfig("http", httpConfig, ringA);
    const headers = headersOf(stored);
    expect(isSealedValue(headers.Authorization)).toBe(true);
    expect(isSealedValue(headers["X-Api-Key"])).toBe(true);
    expect(headers["Content-Type"]).toBe("application/json");
    expect(openConfig("http", stored, ringA)).toEqual(httpConfig);
  });

  it("round-trips a command config, sealing every environment value", () => {
    const stored = sealConfig("command", commandConfig, ringA) as typeof commandConfig;
    expect(Object.values(stored.environment!).every(isSealedValue)).toBe(true);
    expect(openConfig("command", stored, ringA)).toEqual(commandConfig);
  });

  it("leaves a function config as it is", () => {
    const config = FunctionJobConfig.parse({ modulePath: "m", functionName: "f" });
    expect(sealConfig("function", config, ringA)).toEqual(config);
    expect(openConfig("function", config, ringA)).toEqual(config);
  });

  it("stores no plaintext secret, and a fresh nonce for each value", () => {
    const first = sealConfig("http", httpConfig, ringA);
    const second = sealConfig("http", httpConfig, ringA);
    const text = JSON.stringify([first, second, sealConfig("command", commandConfig, ringA)]);
    for (const secret of ["tok-abcdef123456", "key-9876543210", "hunter2-longer", "eu-west-1"]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString("base64"));
    }
    const a = headersOf(first).Authorization as SealedValue;
    const b = headersOf(second).Authorization as SealedValue;
    expect(a.iv).not.toBe(b.iv);
    expect(a.ct).not.toBe(b.ct);
    expect(Buffer.from(a.iv, "base64")).toHaveLength(12);
    expect(Buffer.from(a.tag, "base64")).toHaveLength(16);
    expect(a).toMatchObject({ $enc: "v1", kid: "a" });
  });

  it.each([
    ["a flipped tag bit", (v: SealedValue) => ({ ...v, tag: flipFirstBit(v.tag) })],
    ["a flipped ciphertext bit", (v: SealedValue) => ({ ...v, ct: flipFirstBit(v.ct) })],
    ["a truncated tag", (v: SealedValue) => ({ ...v, tag: v.tag.slice(0, 8) })],
    ["an unknown key id", (v: SealedValue) => ({ ...v, kid: "zz" })],
  ])("refuses to open %s, naming neither key nor value", (_case, tamper) => {
    const stored = sealConfig("http", httpConfig, ringA) as Record<string, unknown>;
    const headers = headersOf(stored);
    const tampered = {
      ...stored,
      headers: { ...headers, Authorization: tamper(headers.Authorization as SealedValue) },
    };
    const error = thrown(() => openConfig("http", tampered, ringA));
    expect(error).toBeInstanceOf(SecretError);
    expect(error.message).toContain("config.headers.Authorization");
    for (const leak of [keyA, "tok-abcdef123456", "zz"]) expect(error.message).not.toContain(leak);
  });

  it("refuses a stored secret that is not sealed", () => {
    const error = thrown(() => openConfig("http", httpConfig, ringA));
    expect(error).toBeInstanceOf(SecretError);
    expect(error.message).not.toContain("tok-abcdef123456");
  });

  it("opens values sealed with the old key after a rotation, and seals new ones with the new key", () => {
    const old = sealConfig("http", httpConfig, ringA);
    expect(openConfig("http", old, ringBA)).toEqual(httpConfig);
    expect(needsReseal("http", old, ringBA)).toBe(true);

    const resealed = resealConfig("http", old, ringBA);
    expect((headersOf(resealed).Authorization as SealedValue).kid).toBe("b");
    expect(needsReseal("http", resealed, ringBA)).toBe(false);
    expect(
      (headersOf(sealConfig("http", httpConfig, ringBA)).Authorization as SealedValue).kid,
    ).toBe("b");
    expect(() => openConfig("http", resealed, ringA)).toThrow(SecretError);
  });
});

describe('"******" in an update', () => {
  it("keeps the stored value of the same header, whatever its case", () => {
    const previous = sealConfig("http", httpConfig, ringA);
    const update = HttpJobConfig.parse({
      ...httpConfig,
      headers: { authorization: MASK, "X-Api-Key": "key-new-value" },
    });
    const stored = sealConfig("http", update, ringBA, previous);
    expect(headersOf(stored).authorization).toEqual(headersOf(previous).Authorization);
    expect(openConfig("http", stored, ringBA).headers).toEqual({
      authorization: "Bearer tok-abcdef123456",
      "X-Api-Key": "key-new-value",
    });
  });

  it("keeps the stored value of the same environment variable", () => {
    const previous = sealConfig("command", commandConfig, ringA);
    const update = CommandJobConfig.parse({
      command: "backup",
      environment: { DB_PASSWORD: MASK, REGION: "us-east-1" },
    });
    const opened = openConfig("command", sealConfig("command", update, ringA, previous), ringA);
    expect(opened.environment).toEqual({ DB_PASSWORD: "hunter2-longer", REGION: "us-east-1" });
  });

  it.each([
    ["without a stored config", undefined],
    ["when the stored config lacks that name", { command: "backup", environment: {} }],
  ])("is an INVALID_JOB_CONFIG naming the field %s", (_case, previous) => {
    const update = CommandJobConfig.parse({ command: "backup", environment: { TOKEN: MASK } });
    const error = thrown(() => sealConfig("command", update, ringA, previous));
    expect(isAppError(error) && error.code).toBe("INVALID_JOB_CONFIG");
    expect(error.message).toContain("config.environment.TOKEN");
  });

  it("is kept literally in a header that is not secret", () => {
    const config = HttpJobConfig.parse({ url: "https://example.com", headers: { "X-Mark": MASK } });
    expect(headersOf(sealConfig("http", config, ringA))["X-Mark"]).toBe(MASK);
  });
});

describe("maskConfig", () => {
  it("shows every secret value as ****** and the rest as stored", () => {
    expect(maskConfig("http", sealConfig("http", httpConfig, ringA))).toEqual({
      ...httpConfig,
      headers: { Authorization: MASK, "X-Api-Key": MASK, "Content-Type": "application/json" },
    });
    expect(maskConfig("command", sealConfig("command", commandConfig, ringA))).toEqual({
      command: "backup",
      environment: { DB_PASSWORD: MASK, REGION: MASK },
    });
  });

  it("masks a plaintext secret too, so a missed seal never reaches a response", () => {
    expect(headersOf(maskConfig("http", httpConfig)).Authorization).toBe(MASK);
  });
});

describe("secretValuesOf and scrubSecrets", () => {
  it("lists each secret value and the credential inside an Authorization value", () => {
    const basic = `Basic ${Buffer.from("admin:s3cr3t-pass").toString("base64")}`;
    const config = HttpJobConfig.parse({
      url: "https://example.com",
      headers: { Authorization: basic, "X-Token": 'a"quoted"token', Accept: "text/plain" },
    });
    const values = secretValuesOf("http", config);
    expect(values).toEqual(
      expect.arrayContaining([
        basic,
        basic.slice(6),
        "admin:s3cr3t-pass",
        "s3cr3t-pass",
        'a"quoted"token',
        'a\\"quoted\\"token',
      ]),
    );
    expect(values).not.toContain("text/plain");
    expect(secretValuesOf("command", commandConfig)).toEqual(["hunter2-longer", "eu-west-1"]);
  });

  it("replaces every occurrence inside nested strings and keys, in a copy", () => {
    const value = {
      stdout: "connecting with hunter2-longer... hunter2-longer ok",
      nested: [{ "hunter2-longer": "x" }, 42, null, true],
      at: new Date(0),
    };
    const scrubbed = scrubSecrets(value, ["hunter2-longer"]);
    expect(scrubbed).toEqual({
      stdout: "connecting with ******... ****** ok",
      nested: [{ "******": "x" }, 42, null, true],
      at: new Date(0),
    });
    expect(value.stdout).toContain("hunter2-longer");
  });

  it("replaces the longest secret first and leaves secrets under 4 characters alone", () => {
    const scrubbed = scrubSecrets("token=abcd-efgh on abcd", ["abcd", "abcd-efgh", "on"]);
    expect(scrubbed).toBe("token=****** on ******");
  });

  it("treats regular-expression characters in a secret literally", () => {
    expect(scrubSecrets("a.b*c+d and axbxc+d", ["a.b*c+d"])).toBe("****** and axbxc+d");
  });

  it("scrubs an Error's message and stack", () => {
    const scrubbed = scrubSecrets(new Error("auth failed for hunter2-longer"), ["hunter2-longer"]);
    expect(scrubbed.message).toBe("auth failed for ******");
    expect(scrubbed.stack).not.toContain("hunter2-longer");
  });
});

function flipFirstBit(base64: string): string {
  const bytes = Buffer.from(base64, "base64");
  bytes[0] = bytes[0]! ^ 1;
  return bytes.toString("base64");
}
