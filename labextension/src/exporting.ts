/**
 * "Export as job": the notebook as a job directory, zipped, from the nbconvert exporter the
 * package registers (`jupyter nbconvert --to caliban`), served by Jupyter's own
 * /nbconvert/caliban/PATH handler. Fetched rather than opened in a new tab, so a refusal
 * (code that cannot be captured) is shown as the exporter's message, not as an error page.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { ApiError } from './api';

/** The export URL of ``path`` (a notebook path relative to the server root). */
export function exportUrl(
  path: string,
  settings: ServerConnection.ISettings
): string {
  return (
    URLExt.join(
      settings.baseUrl,
      'nbconvert',
      'caliban',
      URLExt.encodeParts(path)
    ) + '?download=true'
  );
}

/** The message of a failed nbconvert reply: its JSON message or its error page's text. */
async function failure(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const data = JSON.parse(text);
    if (data && data.message) {
      return String(data.message);
    }
  } catch {
    // an HTML error page: Jupyter puts the reason in its body
  }
  const doc = new DOMParser().parseFromString(text, 'text/html');
  const reason = doc.querySelector('.error, #error-message, main, body');
  const message = (reason?.textContent || '').replace(/\s+/g, ' ').trim();
  return message || `${response.status} ${response.statusText}`;
}

/** The file name the server gives the download, or NOTEBOOK.zip. */
function fileName(response: Response, path: string): string {
  const disposition = response.headers.get('Content-Disposition') || '';
  const quoted = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(
    disposition
  );
  if (quoted) {
    return decodeURIComponent(quoted[1] || quoted[2]);
  }
  return (
    path
      .split('/')
      .pop()!
      .replace(/\.ipynb$/, '') + '.zip'
  );
}

/** Download ``path``'s job directory as a zip; resolves to the file name saved. */
export async function downloadJob(path: string): Promise<string> {
  const settings = ServerConnection.makeSettings();
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      exportUrl(path, settings),
      { method: 'GET' },
      settings
    );
  } catch (error) {
    throw new ApiError(0, `cannot reach the Jupyter server: ${error}`);
  }
  if (!response.ok) {
    throw new ApiError(response.status, await failure(response));
  }
  const name = fileName(response, path);
  const blobUrl = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = blobUrl;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // The browser has the blob once the click is handled; free it after that.
  setTimeout(() => URL.revokeObjectURL(blobUrl), 30_000);
  return name;
}
