import { AppError, ERROR_STATUS, type ErrorCode, isAppError } from "@scheduler/core";
import { sqlStateOf } from "@scheduler/db";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { dependencyErrorOf } from "./dependencyErrors.js";

/** The body of every non-2xx answer (API.md §Errors). */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: object };
  timestamp: string;
  path: string;
}

export function errorBody(request: FastifyRequest, error: AppError): ErrorBody {
  return {
    error: { code: error.code, message: error.message, details: error.details },
    timestamp: new Date().toISOString(),
    path: request.url.split("?")[0] ?? request.url,
  };
}

/** Fastify's own errors that are the client's fault, by their code. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "VALIDATION_ERROR",
  FST_ERR_CTP_EMPTY_JSON_BODY: "VALIDATION_ERROR",
  FST_ERR_CTP_INVALID_JSON_BODY: "VALIDATION_ERROR",
};

/**
 * PostgreSQL refusing a character (22021: NUL in text; 22P05: \u0000 in jsonb). The
 * request checks refuse these first (hostileInput.ts); this keeps any value they miss
 * a 400 rather than a 500.
 */
const UNSTORABLE_STATES = new Set(["22021", "22P05"]);

/** Maps anything a route throws to an AppError; unknown errors become INTERNAL_ERROR. */
export function toAppError(error: FastifyError): AppError {
  if (isAppError(error)) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((v) => ({
      field: [error.validationContext, ...v.instancePath.split("/").filter(Boolean)].join("."),
      message: v.message ?? "is invalid",
    }));
    const first = issues[0];
    return new AppError(
      "VALIDATION_ERROR",
      first ? `${first.field} ${first.message}` : "request is invalid",
      { issues },
    );
  }
  const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
  if (mapped) return new AppError(mapped, error.message);
  if (error.statusCode === 429) return new AppError("RATE_LIMITED", "too many requests");
  if (UNSTORABLE_STATES.has(sqlStateOf(error) ?? "")) {
    return new AppError("VALIDATION_ERROR", "a value in the request cannot be stored");
  }
  const unavailable = dependencyErrorOf(error);
  if (unavailable) return unavailable;
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError("VALIDATION_ERROR", error.message);
  }
  return new AppError("INTERNAL_ERROR", "internal error");
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const appError = toAppError(error);
    if (appError.status >= 500) {
      request.log.error({ err: error }, "request failed");
    }
    const retryAfter = (appError.details as { retryAfterSeconds?: number }).retryAfterSeconds;
    if (retryAfter !== undefined) void reply.header("retry-after", String(retryAfter));
    return reply.status(ERROR_STATUS[appError.code]).send(errorBody(request, appError));
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new AppError(
      "NOT_FOUND",
      `no route ${request.method} ${request.url.split("?")[0]}`,
    );
    return reply.status(404).send(errorBody(request, error));
  });
}
