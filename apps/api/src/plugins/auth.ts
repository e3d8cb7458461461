import fastifyJwt from "@fastify/jwt";
import { type ApiConfig, AppError } from "@scheduler/core";
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from "fastify";
import fp from "fastify-plugin";
import { z } from "zod";
import { authHook } from "./authFirst.js";
import type { TenantRateLimiter } from "./rateLimit.js";

export const Permission = z.enum([
  "jobs:read",
  "jobs:write",
  "jobs:execute",
  "scheduler:monitor",
  "scheduler:admin",
]);
export type Permission = z.infer<typeof Permission>;

/** The claims a tenant token must carry (API.md §Transport). */
const TenantClaims = z.object({
  sub: z.uuid(),
  tenantId: z.uuid(),
  permissions: z.array(z.string()),
});

/** Who is calling, from a verified token. */
export interface Principal {
  userId: string;
  tenantId: string;
  permissions: ReadonlySet<string>;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyInstance {
    tenantRateLimiter?: TenantRateLimiter;
  }
}

/**
 * Registers @fastify/jwt with one pinned algorithm: RS256 when JWT_PUBLIC_KEY is set,
 * else HS256. A token of any other algorithm (`none` included) fails verification.
 * Every token must expire (`exp`): one without it would be good forever. With
 * JWT_ISSUER / JWT_AUDIENCE set, `iss` / `aud` must be present and match.
 */
export const authPlugin = fp(async (app: FastifyInstance, config: ApiConfig) => {
  const algorithm = config.JWT_PUBLIC_KEY ? "RS256" : "HS256";
  const issuers = config.JWT_ISSUER ?? [];
  const audiences = config.JWT_AUDIENCE ?? [];
  await app.register(fastifyJwt, {
    secret: config.JWT_PUBLIC_KEY ? { public: config.JWT_PUBLIC_KEY } : config.JWT_SECRET!,
    verify: {
      algorithms: [algorithm],
      requiredClaims: [
        "exp",
        ...(issuers.length ? ["iss"] : []),
        ...(audiences.length ? ["aud"] : []),
      ],
      ...(issuers.length ? { allowedIss: issuers } : {}),
      ...(audiences.length ? { allowedAud: audiences } : {}),
    },
  });
});

async function authenticate(request: FastifyRequest): Promise<Principal> {
  if (!request.headers.authorization?.startsWith("Bearer ")) {
    throw new AppError("UNAUTHORIZED", "missing bearer token");
  }
  let payload: unknown;
  try {
    payload = await request.jwtVerify();
  } catch {
    throw new AppError("UNAUTHORIZED", "invalid or expired token");
  }
  const claims = TenantClaims.safeParse(payload);
  if (!claims.success)
    throw new AppError("UNAUTHORIZED", "token lacks the sub, tenantId or permissions claim");
  return {
    userId: claims.data.sub,
    tenantId: claims.data.tenantId,
    permissions: new Set(claims.data.permissions),
  };
}

/**
 * An onRequest hook that authenticates the caller, checks one permission and counts
 * the request against the tenant's rate limit, before the body is read or any schema
 * is checked (authFirst.ts).
 */
export function requirePermission(permission: Permission): onRequestHookHandler {
  return authHook(async (request) => {
    const principal = await authenticate(request);
    if (!principal.permissions.has(permission) && !principal.permissions.has("scheduler:admin")) {
      throw new AppError("FORBIDDEN", `permission '${permission}' is required`);
    }
    request.principal = principal;
    await request.server.tenantRateLimiter?.check(principal.tenantId);
  });
}

/** The principal set by requirePermission; routes without it are a programming error. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error("route has no requirePermission hook");
  return request.principal;
}

/** The acting tenant and user of an authenticated request. */
export function actorOf(request: FastifyRequest): { tenantId: string; userId: string } {
  const { tenantId, userId } = principalOf(request);
  return { tenantId, userId };
}
