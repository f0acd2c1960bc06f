/**
 * undici's `Agent`, `buildConnector` and `request`, each loaded from its own module. undici 7's index
 * also loads fetch, WebSocket, EventSource, its caches, mocks, proxy agents and interceptors, none of
 * which this project uses: from these paths a process loads about 80 fewer modules (0.85 MiB of
 * source, ~3 MiB of heap). undici 7 has no `exports` map, so its `lib` files are reachable; the types
 * are the package's own (type-only import). Source files that load undici import these from here;
 * type-only imports may stay on 'undici'. Measured: README, Performance, Memory.
 */
import type * as Undici from 'undici';

export const Agent = require('undici/lib/dispatcher/agent') as typeof Undici.Agent;
export type Agent = Undici.Agent;
export const buildConnector = require('undici/lib/core/connect') as typeof Undici.buildConnector;

const Dispatcher = require('undici/lib/dispatcher/dispatcher') as { prototype: object };
// As undici's index does: request() and the other API methods on every dispatcher.
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js') as object);
const { getGlobalDispatcher } = require('undici/lib/global') as { getGlobalDispatcher(): Undici.Dispatcher };
const { parseURL } = require('undici/lib/core/util') as { parseURL(url: string | URL): URL };

type RequestOptions = { dispatcher?: Undici.Dispatcher; method?: string; body?: unknown; path?: unknown; agent?: unknown };

/** undici's `request(url, options)`: the same as its index's (a URL and options; `options.path` is not taken). */
export const request = ((url: string | URL, options: RequestOptions = {}) => {
  if (options.path != null || options.agent) throw new TypeError('request(): options.path and options.agent are not supported');
  const parsed = parseURL(url);
  const dispatcher = options.dispatcher ?? getGlobalDispatcher();
  return dispatcher.request({
    ...(options as Undici.Dispatcher.RequestOptions),
    origin: parsed.origin,
    path: parsed.search ? `${parsed.pathname}${parsed.search}` : parsed.pathname,
    method: (options.method || (options.body ? 'PUT' : 'GET')) as Undici.Dispatcher.HttpMethod,
  });
}) as typeof Undici.request;
