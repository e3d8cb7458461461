import { createHash, timingSafeEqual } from "node:crypto";
import { AppError } from "@scheduler/core";
import type { onRequestHookHandler } from "fastify";
import { authHook } from "./authFirst.js";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * An onRequest hook for the internal API, run before the body is read or checked
 * (authFirst.ts): `X-Service-Token` must equal the configured token. Both sides are
 * hashed first, so the comparison takes the same time whatever the length or content
 * of the token sent. No token configured: every call is refused.
 */
export function requireServiceToken(expected: string | undefined): onRequestHookHandler {
  const expectedDigest = expected ? digest(expected) : undefined;
  return authHook(async (request) => {
    const sent = request.headers["x-service-token"];
    const ok =
      expectedDigest !== undefined &&
      typeof sent === "string" &&
      timingSafeEqual(digest(sent), expectedDigest);
    if (!ok) throw new AppError("UNAUTHORIZED", "missing or invalid service token");
  });
}
