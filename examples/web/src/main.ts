// usage: node dist/main.js <graphql-url> <token> <caseId> [events]
// Prints the queue, the case page, a file attached to the case and fetched
// back, then the case's next activity entries, as JSON lines.
import { attachFile, downloadFile } from './attachments.js';
import { connect } from './client.js';
import { loadCase } from './case-page.js';
import { followActivity } from './live-feed.js';
import { loadQueue } from './queue.js';

const [url = 'http://127.0.0.1:4000/graphql', token = process.env.CASEBOOK_TOKEN ?? '', caseId, events = '1'] =
  process.argv.slice(2);
if (!caseId) {
  console.error('usage: node dist/main.js <graphql-url> <token> <caseId> [events]');
  process.exit(2);
}

const casebook = connect(url, token);
try {
  const queue = await loadQueue(casebook);
  console.log(JSON.stringify({ queue: { totalCount: queue.totalCount, titles: queue.nodes.map((c) => c.title) } }));
  const notes = new TextEncoder().encode('Headers of the phishing mail, as exported.\n');
  const attached = await attachFile(url, token, caseId, new Blob([notes], { type: 'text/plain' }), 'headers.txt');
  const downloaded = await downloadFile(url, attached.downloadUrl);
  const same = downloaded.length === notes.length && downloaded.every((b, i) => b === notes[i]);
  const page = await loadCase(casebook, caseId);
  console.log(JSON.stringify({ case: { title: page.title, tasks: page.tasks.length, entries: page.activity.totalCount } }));
  console.log(JSON.stringify({ attachment: { fileName: attached.fileName, contentType: attached.contentType, size: attached.size, same } }));
  const newest = page.activity.edges[0]?.cursor ?? null;
  console.log(JSON.stringify({ following: caseId }));
  let seen = 0;
  for await (const entry of followActivity(casebook, caseId, newest)) {
    console.log(JSON.stringify({ activity: entry }));
    if (++seen >= Number(events)) break;
  }
} finally {
  await casebook.close();
}
