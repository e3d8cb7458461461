import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { AppError, ERROR_STATUS, type ErrorCode } from "@scheduler/core";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { errorBody } from "./errors.js";

/** Router errors, raised before a route is found, by their Fastify code. */
const ROUTER_CODES: Record<string, ErrorCode> = {
  FST_ERR_BAD_URL: "VALIDATION_ERROR",
  FST_ERR_MAX_PARAM_LENGTH: "URI_TOO_LONG",
};

/**
 * Fastify's `frameworkErrors`: a URL the router cannot decode (400) or a path
 * parameter over `maxParamLength` (414), answered in the error envelope like every
 * other error. These come before any route, so before authentication: they say
 * nothing about a route's schema.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const code = ROUTER_CODES[error.code] ?? "INTERNAL_ERROR";
  const message =
    code === "URI_TOO_LONG"
      ? "a path parameter is longer than allowed"
      : code === "VALIDATION_ERROR"
        ? "the URL is not validly encoded"
        : "internal error";
  if (code === "INTERNAL_ERROR") request.log.error({ err: error }, "request failed");
  void reply.status(ERROR_STATUS[code]).send(errorBody(request, new AppError(code, message)));
}

/** What the HTTP server could not read, by Node's parser code. */
function clientErrorOf(error: { code?: string }): AppError {
  if (error.code === "HPE_HEADER_OVERFLOW") {
    return new AppError("HEADERS_TOO_LARGE", "the request headers are larger than allowed");
  }
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return new AppError("REQUEST_TIMEOUT", "the request did not arrive in time");
  }
  return new AppError("VALIDATION_ERROR", "the request is not valid HTTP");
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the request (a malformed
 * request line or header, headers over the limit, a timeout), so there is no request
 * object; the answer is written to the socket in the error envelope, then the
 * connection is closed, as Node itself does.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection has nobody left to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const appError = clientErrorOf(error);
  const status = ERROR_STATUS[appError.code];
  const body = JSON.stringify({
    error: { code: appError.code, message: appError.message, details: {} },
    timestamp: new Date().toISOString(),
    path: "",
  });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
