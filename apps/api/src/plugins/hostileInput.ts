import { AppError } from "@scheduler/core";
import type { FastifyInstance, FastifyRequest } from "fastify";

/**
 * How deep a request's JSON may nest. A job's config (an HTTP body, function
 * parameters) is data for its target, not a document store; 64 levels is far beyond
 * any real payload, and bounds every later walk of the value (sealing, masking,
 * jsonb) that would otherwise recurse once per level.
 */
export const MAX_JSON_DEPTH = 64;

interface Problem {
  field: string;
  message: string;
}

/**
 * The first value in `value` that no part of the service can hold: a string or key
 * with a NUL character (PostgreSQL text and jsonb refuse it, an HTTP header cannot
 * carry it, spawn() refuses it), or nesting deeper than MAX_JSON_DEPTH. Iterative, so
 * a hostile depth costs no stack.
 */
function findUnstorable(value: unknown, root: string): Problem | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [
    { value, path: root, depth: 0 },
  ];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === "string") {
      if (current.includes("\0"))
        return { field: path, message: "may not contain a NUL character" };
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (depth >= MAX_JSON_DEPTH) {
      return { field: path, message: `nests deeper than ${MAX_JSON_DEPTH} levels` };
    }
    for (const [key, child] of Object.entries(current)) {
      if (key.includes("\0")) return { field: path, message: "has a key with a NUL character" };
      stack.push({ value: child, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return undefined;
}

function refuseUnstorable(request: FastifyRequest): void {
  const parts = [
    ["params", request.params],
    ["querystring", request.query],
    ["body", request.body],
  ] as const;
  for (const [root, value] of parts) {
    const problem = findUnstorable(value, root);
    if (problem) {
      throw new AppError("VALIDATION_ERROR", `${problem.field} ${problem.message}`, {
        issues: [problem],
      });
    }
  }
}

/**
 * Refuses, before any schema or handler sees them, ids, query values and bodies that
 * hold a NUL character or nest too deep: 400 VALIDATION_ERROR, nothing stored. Runs at
 * preValidation, after authentication (authFirst.ts).
 */
export function registerHostileInputChecks(app: FastifyInstance): void {
  app.addHook("preValidation", async (request) => refuseUnstorable(request));
}
