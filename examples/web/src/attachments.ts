// Files on a case: uploaded as a GraphQL multipart request (the spec that
// apollo-upload-client and urql follow) with fetch and FormData, the same
// Web APIs in a browser and in Node; downloaded through the signed link the
// API hands out (no token needed, as for an <a href>). Nothing here is
// Node's: the browser test runs this module in Chromium.
import { CasebookError, documentId } from './documents.js';
import { graphql } from './gql/index.js';

export const AddAttachmentDocument = graphql(`
  mutation AddAttachment($input: AddAttachmentInput!) {
    addAttachment(input: $input) {
      id
      fileName
      contentType
      size
      sha256
      downloadUrl
    }
  }
`);

/** Attaches `file` to the case; the attachment as the server stored it. */
export async function attachFile(url: string, token: string, caseId: string, file: Blob, name: string) {
  const form = new FormData();
  // The file's variable is null in `operations`; `map` says which part fills it.
  form.append(
    'operations',
    JSON.stringify({ documentId: documentId(AddAttachmentDocument as never), variables: { input: { caseId, file: null } } }),
  );
  form.append('map', JSON.stringify({ 0: ['variables.input.file'] }));
  form.append('0', file, name);
  const response = await fetch(url, {
    method: 'POST',
    // fetch writes the multipart content type and boundary itself. The header
    // forces a CORS preflight: the server refuses uploads without it (CSRF).
    headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' },
    body: form,
  });
  const body = (await response.json()) as {
    data?: { addAttachment: { id: string; fileName: string; contentType: string; size: number; sha256: string; downloadUrl: string } };
    errors?: ConstructorParameters<typeof CasebookError>[0];
  };
  if (body.errors?.length) throw new CasebookError(body.errors);
  if (!body.data) throw new Error(`no data in the answer (HTTP ${response.status})`);
  return body.data.addAttachment;
}

/** Fetches a file by its signed link (relative to the API's URL). */
export async function downloadFile(apiUrl: string, downloadUrl: string): Promise<Uint8Array> {
  const response = await fetch(new URL(downloadUrl, apiUrl));
  if (!response.ok) throw new Error(`download failed: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

