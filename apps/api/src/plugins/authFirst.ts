import type { FastifyInstance, onRequestHookHandler } from "fastify";

/**
 * Authentication comes first on every route: a caller without a valid token learns
 * nothing about a route's schema, and a caller without the permission learns nothing
 * either. So the auth hooks run at `onRequest`, before the body is read (413, 415) and
 * before the schema is checked (400), and a route under a protected prefix that has no
 * auth hook there is refused when it is registered: the app does not start.
 */
const authHooks = new WeakSet<onRequestHookHandler>();

/** Marks `hook` as one that authenticates (401) and authorises (403) the caller. */
export function authHook(hook: onRequestHookHandler): onRequestHookHandler {
  authHooks.add(hook);
  return hook;
}

/** Routes under these prefixes need an auth hook, apart from the public ones. */
export interface AuthFirstRules {
  protectedPrefixes: readonly string[];
  publicRoutes: readonly string[];
}

/** Registers the check; call it before any route is registered. */
export function registerAuthFirst(app: FastifyInstance, rules: AuthFirstRules): void {
  app.addHook("onRoute", (route) => {
    const isProtected = rules.protectedPrefixes.some((prefix) => route.url.startsWith(prefix));
    if (!isProtected || rules.publicRoutes.includes(route.url)) return;
    const hooks = [route.onRequest ?? []].flat() as onRequestHookHandler[];
    if (!hooks.some((hook) => authHooks.has(hook))) {
      throw new Error(`route ${String(route.method)} ${route.url} has no onRequest auth hook`);
    }
  });
}
