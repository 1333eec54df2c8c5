// One case as its page shows it: the fields, tasks, linked incidents and the
// newest activity, whose cursor the live feed resumes from.
import type { Casebook } from './client.js';
import { graphql } from './gql/index.js';

export const CasePageDocument = graphql(`
  query CasePage($id: ID!) {
    case(id: $id) {
      id
      title
      description
      priority
      dueOn
      version
      status {
        id
        name
        allowedNext {
          id
          name
        }
      }
      assignee {
        id
        displayName
      }
      tasks {
        id
        title
        status
        owner {
          displayName
        }
      }
      incidents {
        id
        title
        severity
      }
      activity(first: 20) {
        totalCount
        edges {
          cursor
          node {
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
              changes {
                field
                oldValue
                newValue
              }
            }
          }
        }
      }
    }
  }
`);

export async function loadCase(casebook: Casebook, id: string) {
  const data = await casebook.execute(CasePageDocument, { id });
  if (!data.case) throw new Error(`case ${id} does not exist in this tenant`);
  return data.case;
}
