// The case's activity as it happens, from a cursor on: nothing is missed
// across reconnects or deploys (the server replays what came after it).
import type { Casebook } from './client.js';
import { graphql } from './gql/index.js';

export const LiveFeedDocument = graphql(`
  subscription LiveFeed($caseId: ID!, $after: String) {
    caseActivity(caseId: $caseId, after: $after) {
      __typename
      id
      createdAt
      actor {
        displayName
      }
      ... on Comment {
        body
      }
      ... on AuditEvent {
        action
      }
    }
  }
`);

export async function* followActivity(casebook: Casebook, caseId: string, after: string | null) {
  for await (const data of casebook.subscribe(LiveFeedDocument, { caseId, after })) {
    yield data.caseActivity;
  }
}
