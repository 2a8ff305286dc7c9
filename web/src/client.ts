// The GraphQL client: queries and mutations over HTTP, subscriptions over a
// WebSocket speaking graphql-transport-ws. Both are authenticated by the
// session cookie that the login mutation sets (HTTP-only, same origin: the
// server accepts the cookie on the WebSocket upgrade after checking Origin).
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from 'urql';
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws';

/** The WebSocket URL of the API on the page's own origin. */
export function wsURL(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/graphql`;
}

/**
 * Creates the client. The WebSocket is lazy (opened by the first
 * subscription) and retried on drops; after login or logout, create a new
 * client so that the socket authenticates with the new cookie.
 */
export function newClient(): { client: Client; ws: WSClient } {
  const ws = createWSClient({
    url: wsURL(),
    lazy: true,
    retryAttempts: 10,
    shouldRetry: () => true,
  });
  const client = new Client({
    url: '/graphql',
    fetchOptions: { credentials: 'same-origin' },
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, ws };
}
