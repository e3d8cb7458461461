import { signTestJwt } from "@scheduler/testkit/jwt";

/**
 * Prints a dev JWT (HS256 with JWT_SECRET) for the demo tenant, with every
 * permission, valid for 30 days. For scripts/start; never for production tokens.
 */
const DEMO_TENANT_ID = "00000000-0000-4000-8000-00000000d3a0";

const secret = process.env.JWT_SECRET;
if (!secret) {
  console.error("JWT_SECRET: is required");
  process.exit(2);
}
const claims = {
  sub: "00000000-0000-4000-8000-000000000001",
  tenantId: DEMO_TENANT_ID,
  permissions: ["scheduler:admin"],
};
console.log(signTestJwt(claims, secret, { expiresInSeconds: 30 * 24 * 3600 }));
