// What every request of the client shares, with nothing of Node's: the
// browser code (attachments.ts) imports it too.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

/** A document as graphql-codegen's client preset emits it: typed, and named by its id in the manifest. */
export type Trusted<TResult, TVariables> = TypedDocumentNode<TResult, TVariables> & {
  __meta__?: { hash?: string };
};

export interface GraphQLError {
  message: string;
  extensions?: { code?: string; requestId?: string };
}

/** The server's errors, with their codes (see the README's error codes). */
export class CasebookError extends Error {
  constructor(readonly errors: readonly GraphQLError[]) {
    super(errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  }

  get codes(): string[] {
    return this.errors.map((e) => e.extensions?.code ?? 'ERROR');
  }
}

export function documentId(document: Trusted<unknown, never>): string {
  const id = document.__meta__?.hash;
  if (!id) throw new Error('this document has no id: run `npm run codegen`');
  return id;
}
