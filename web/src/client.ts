// The GraphQL client: queries and mutations over HTTP, subscriptions over a
// WebSocket speaking graphql-transport-ws. Both are authenticated by the
// session cookie that the login mutation sets (HTTP-only, same origin: the
// server accepts the cookie on the WebSocket upgrade after checking Origin).
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from 'urql';
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws';

/** The WebSocket URL of the API on the page's own origin. */
export function wsURL(loc: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/graphql`;
}

/** Whether an operation failed because the caller is not signed in (any more). */
export function isUnauthenticated(error: { graphQLErrors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> }): boolean {
  return (error.graphQLErrors ?? []).some((e) => e.extensions?.code === 'UNAUTHENTICATED');
}

/**
 * Creates the client. The WebSocket is lazy (opened by the first
 * subscription) and retried on drops; after login or logout, create a new
 * client so that the socket authenticates with the new cookie.
 * onSignedOut is called when an operation other than the login finds the
 * session gone (it expired, or was ended elsewhere).
 */
export function newClient(onSignedOut: () => void = () => {}): { client: Client; ws: WSClient } {
  let signedOut = false;
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
      mapExchange({
        onError(error, operation) {
          const name = operation.query.definitions.find((d) => d.kind === 'OperationDefinition')?.name?.value;
          if (name !== 'Login' && name !== 'Viewer' && isUnauthenticated(error) && !signedOut) {
            signedOut = true; // once per client
            onSignedOut();
          }
        },
      }),
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
