import { AppError } from "@scheduler/core";
import type { FastifyInstance, FastifyRequest } from "fastify";

/**
 * How deep a request's JSON may nest. A job's config (an HTTP body, function
 * parameters) is data for its target, not a document store; 64 levels is far beyond
 * any real payload, and bounds every later walk of the value (sealing, masking,
 * jsonb) that would otherwise recurse once per level.
 */
export const MAX_JSON_DEPTH = 64;

/** A UTF-16 surrogate without its pair: no UTF-8 text (PostgreSQL's, a header's) can hold it. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why no part of the service can hold this text, if it cannot. */
function unstorableText(text: string): string | undefined {
  if (text.includes("\0")) return "a NUL character";
  if (LONE_SURROGATE.test(text)) return "an unpaired UTF-16 surrogate";
  return undefined;
}

interface Problem {
  field: string;
  message: string;
}

/**
 * The first value in `value` that no part of the service can hold: a string or key
 * with a NUL character (PostgreSQL text and jsonb refuse it, an HTTP header cannot
 * carry it, spawn() refuses it) or an unpaired surrogate (not UTF-8), or nesting deeper
 * than MAX_JSON_DEPTH. Iterative, so
 * a hostile depth costs no stack.
 */
function findUnstorable(value: unknown, root: string): Problem | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [
    { value, path: root, depth: 0 },
  ];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop()!;
    if (typeof current === "string") {
      const why = unstorableText(current);
      if (why) return { field: path, message: `may not contain ${why}` };
      continue;
    }
    if (current === null || typeof current !== "object") continue;
    if (depth >= MAX_JSON_DEPTH) {
      return { field: path, message: `nests deeper than ${MAX_JSON_DEPTH} levels` };
    }
    for (const [key, child] of Object.entries(current)) {
      const why = unstorableText(key);
      if (why) return { field: path, message: `has a key with ${why}` };
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
 * hold a NUL character or an unpaired surrogate, or nest too deep: 400 VALIDATION_ERROR, nothing stored. Runs at
 * preValidation, after authentication (authFirst.ts).
 */
export function registerHostileInputChecks(app: FastifyInstance): void {
  app.addHook("preValidation", async (request) => refuseUnstorable(request));
}
