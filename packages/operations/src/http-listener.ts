import { once } from 'node:events';
import { createServer, IncomingMessage, ServerResponse, type RequestListener, type Server, type ServerOptions } from 'node:http';

/** Bounds on what a client may hold open on a listener (see the README's "Limits"). */
export interface ListenerLimits {
  /** The request line and headers must be complete this long after the connection (or the previous response). */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must have arrived this long after it began (at least the header bound). Responses are not bounded. */
  requestTimeoutMs: number;
  /**
   * A keep-alive connection idle between requests is closed after at most this long (at least 2000),
   * and so is one whose client takes none of its response for this long while bytes wait for it.
   */
  idleTimeoutMs: number;
  /** Connections held at once; a connection over the cap is closed as it is accepted. */
  maxConnections: number;
}

/** Node keeps an idle keep-alive socket 1 s past `keepAliveTimeout` (HTTP_SERVER_KEEP_ALIVE_TIMEOUT_BUFFER). */
const KEEP_ALIVE_SLACK_MS = 1000;

/** An express app: the prototypes it gives every request and response it handles (`app.request`, `app.response`). */
interface WithPrototypes {
  request?: unknown;
  response?: unknown;
}

/**
 * Request and response classes whose objects are born with `app`'s prototypes in their chain (an express
 * app's `app.request` and `app.response`, which extend node's): the data listener runs express's handlers
 * for `/v2` without express's dispatch, and its requests have express's methods without a live object's
 * prototype ever changing, which is what V8 does worst (it cost more CPU than the rest of a manifest hit:
 * 3,500 hits/s with it, 5,700 without; README "Performance").
 *
 * Subclasses of node's own classes, their prototypes' own prototype relinked to the app's once at start:
 * `new` runs node's constructor with the subclass as `new.target`, so V8 builds each object from one
 * initial map. Node's constructors applied to an object made elsewhere (`IncomingMessage.call(this)`,
 * how this was done before) built the same objects about 10 us slower each in a bare server (a third more
 * CPU per request; README "Manifest hits: how node's request objects are made"). A request express
 * dispatches itself (admin port, /token) has its prototype set to the app's by express, a real change now
 * (a no-op before): rare requests, against every registry request. Anything else (no such prototypes):
 * node's own objects.
 */
function bornWithPrototypes(app: WithPrototypes): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  const { request, response } = app;
  if (!(request instanceof IncomingMessage) || !(response instanceof ServerResponse)) return {};
  class AppRequest extends IncomingMessage {}
  class AppResponse extends ServerResponse {}
  Object.setPrototypeOf(AppRequest.prototype, request);
  Object.setPrototypeOf(AppResponse.prototype, response);
  // (ServerResponse is generic over its request type; the subclass keeps the default.)
  return { IncomingMessage: AppRequest, ServerResponse: AppResponse as typeof ServerResponse };
}

/**
 * Listen with the limits applied. Node checks the header and request deadlines every
 * `connectionsCheckingInterval` (default 30 s, which is why a trickled request used to live 76 s):
 * check at a quarter of the header bound, at most every second. A fresh connection counts as a
 * request that has begun, so a socket that never sends a byte is closed at the header bound (408).
 * `requestTimeout` ends when the request has arrived: a slow download is never cut by it. A response
 * is cut only when its client stops reading: no bytes taken for the idle bound while some wait to be
 * written (a slow-read client would otherwise hold a connection for ever). A response still waiting
 * on us (a ranged miss fetching from its upstream) has nothing queued and is left alone. An express
 * app's requests and responses are made with its prototypes (`bornWithPrototypes`).
 */
export async function listen(app: RequestListener, host: string, port: number, limits: ListenerLimits): Promise<Server> {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs),
      keepAliveTimeout: limits.idleTimeoutMs - KEEP_ALIVE_SLACK_MS,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
      ...bornWithPrototypes(app as WithPrototypes),
    },
    app,
  );
  server.maxConnections = limits.maxConnections;
  server.on('request', (_req, res: ServerResponse) => {
    // Node emits 'timeout' only when no write has completed for the whole period.
    res.setTimeout(limits.idleTimeoutMs, () => {
      if ((res.socket?.writableLength ?? 0) > 0) res.socket?.destroy();
    });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
