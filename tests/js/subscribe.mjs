// Subscribes to a case's activity with the graphql-ws client, as the README
// shows, and prints the first N events as JSON lines. Used by tests/frontend.rs.
// usage: node subscribe.mjs <ws-url> <token> <caseId> <count> [after-cursor]
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, caseId, count, after] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
});

let seen = 0;
const query = 'subscription ($caseId: ID!, $after: String) { caseActivity(caseId: $caseId, after: $after) { __typename ... on Comment { body } } }';
const timer = setTimeout(() => { console.error('timed out'); process.exit(2); }, 20000);
client.subscribe(
  { query, variables: { caseId, after: after ?? null } },
  {
    next: (result) => {
      if (result.errors) { console.error(JSON.stringify(result.errors)); process.exit(1); }
      console.log(JSON.stringify(result.data.caseActivity));
      if (++seen === Number(count)) { clearTimeout(timer); client.dispose(); process.exit(0); }
    },
    error: (error) => { console.error(String(error?.reason ?? error)); process.exit(1); },
    complete: () => {},
  },
);
// Tell the test we are subscribed once the server acknowledged the connection.
client.on('connected', () => console.log('"connected"'));
