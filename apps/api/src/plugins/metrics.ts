import type { Metrics } from "@scheduler/core";
import type { FastifyInstance } from "fastify";
import { toAppError } from "./errors.js";

/**
 * Counts every request as an operation labelled by its route pattern (never the URL,
 * which holds ids) and its outcome; 5xx answers also count as errors by code.
 */
export function registerRequestMetrics(app: FastifyInstance, metrics: Metrics): void {
  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url;
    const operation = route ? `${request.method} ${route}` : "unmatched";
    const status = reply.statusCode >= 400 ? "error" : "success";
    metrics.operations.inc({ operation, status });
    metrics.operationDuration.observe({ operation }, reply.elapsedTime / 1000);
  });
  app.addHook("onError", async (request, _reply, error) => {
    const appError = toAppError(error);
    if (appError.status >= 500) {
      const route = request.routeOptions.url;
      metrics.errors.inc({
        operation: route ? `${request.method} ${route}` : "unmatched",
        code: appError.code,
      });
    }
  });
}
