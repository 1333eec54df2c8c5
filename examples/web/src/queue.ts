// The case queue: the cases not closed, those that matter most first, as a SOC queue page shows them.
import type { Casebook } from './client.js';
import { graphql } from './gql/index.js';
import type { CaseFilter } from './gql/graphql.js';

export const QueueDocument = graphql(`
  query Queue($filter: CaseFilter, $first: Int, $after: String) {
    cases(filter: $filter, orderBy: { field: PRIORITY, direction: DESC }, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        title
        priority
        dueOn
        status {
          name
          category
        }
        assignee {
          displayName
        }
        sla {
          state
          resolveBy
        }
        tags
      }
    }
  }
`);

export async function loadQueue(casebook: Casebook, filter: CaseFilter = { statusCategories: ['NEW', 'OPEN'] }) {
  const data = await casebook.execute(QueueDocument, { filter, first: 25 });
  return data.cases;
}
