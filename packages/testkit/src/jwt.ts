import { createHmac } from "node:crypto";

const b64url = (value: object | string) =>
  Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/**
 * Signs a JWT with HS256 (or an unsigned one with `alg`), for tests that talk to the
 * API from outside, as a tenant application would.
 */
export function signTestJwt(
  claims: Record<string, unknown>,
  secret: string,
  options: { alg?: string; expiresInSeconds?: number } = {},
): string {
  const alg = options.alg ?? "HS256";
  const now = Math.floor(Date.now() / 1000);
  const header = b64url({ alg, typ: "JWT" });
  const payload = b64url({ iat: now, exp: now + (options.expiresInSeconds ?? 3600), ...claims });
  if (alg.toLowerCase() === "none") return `${header}.${payload}.`;
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** A fixed key ring for tests (CONFIG_ENCRYPTION_KEY); never used outside tests. */
export const TEST_CONFIG_ENCRYPTION_KEY = `test:${Buffer.alloc(32, 7).toString("base64")}`;
