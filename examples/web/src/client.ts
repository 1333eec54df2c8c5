// A small typed client: operations go as trusted documents (their id only),
// queries and mutations over HTTP, subscriptions over graphql-ws.
import { createClient, type SubscribePayload } from 'graphql-ws';
import WebSocket from 'ws';
import { CasebookError, documentId, type GraphQLError, type Trusted } from './documents.js';

export { CasebookError, documentId, type Trusted } from './documents.js';

export interface Casebook {
  execute<TResult, TVariables>(document: Trusted<TResult, TVariables>, variables: TVariables): Promise<TResult>;
  subscribe<TResult, TVariables>(document: Trusted<TResult, TVariables>, variables: TVariables): AsyncIterableIterator<TResult>;
  close(): Promise<void>;
}

/** A client for the API at `url` (`http://host:4000/graphql`) with a bearer token. */
export function connect(url: string, token: string): Casebook {
  const socket = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    // A browser cannot set headers on a WebSocket: the token goes in connection_init.
    connectionParams: { Authorization: `Bearer ${token}` },
    lazy: true,
  });
  return {
    async execute<TResult, TVariables>(document: Trusted<TResult, TVariables>, variables: TVariables) {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ documentId: documentId(document as Trusted<unknown, never>), variables }),
      });
      const body = (await response.json()) as { data?: TResult | null; errors?: GraphQLError[] };
      if (body.errors?.length) throw new CasebookError(body.errors);
      if (!body.data) throw new Error(`no data in the answer (HTTP ${response.status})`);
      return body.data;
    },
    async *subscribe<TResult, TVariables>(document: Trusted<TResult, TVariables>, variables: TVariables) {
      // The id stands in for the text; graphql-ws insists on a query string, and the server reads "" as none.
      const payload = { query: '', documentId: documentId(document as Trusted<unknown, never>), variables };
      for await (const result of socket.iterate<TResult>(payload as SubscribePayload)) {
        if (result.errors?.length) throw new CasebookError(result.errors as GraphQLError[]);
        if (result.data) yield result.data;
      }
    },
    close: () => socket.dispose() ?? Promise.resolve(),
  };
}
