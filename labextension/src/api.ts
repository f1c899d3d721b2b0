/**
 * The caliban server extension's REST API (/caliban/api/...): types and one request
 * function. The reply types come from the server's schema (apitypes.ts). Every call
 * goes through JupyterLab's ServerConnection (token, XSRF, base URL).
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

// The server's JSON, generated from caliban_jupyter/server/api.schema.json (the contract
// test checks the server's replies against the same schema).
export type {
  ICatalogChoices,
  ICost,
  ICostOption,
  IBackendChoice,
  IDryRun,
  IFlag,
  IFlagsReply,
  IGroup,
  IGroupDetail,
  IJob,
  IParameter,
  ISubmissionState
} from './apitypes';

/** A reply the server refused: its status and its one-line message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
  }
}

/** The result of a GET with an ETag: ``unchanged`` when the server answered 304. */
export interface IConditional<T> {
  data: T | null;
  etag: string | null;
  unchanged: boolean;
}

const settings = ServerConnection.makeSettings();

function url(
  path: string,
  params?: { [key: string]: string | number }
): string {
  let out = URLExt.join(settings.baseUrl, 'caliban', 'api', path);
  if (params) {
    const query = Object.entries(params)
      .filter(([, v]) => v !== '' && v !== undefined && v !== null)
      .map(
        ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`
      )
      .join('&');
    if (query) {
      out += '?' + query;
    }
  }
  return out;
}

async function parse(response: Response): Promise<any> {
  const text = await response.text();
  let data: any = null;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!response.ok) {
    const message =
      (data && data.message) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

/** GET/POST ``path`` under /caliban/api/ and return its JSON. */
export async function request<T>(
  path: string,
  options: {
    method?: string;
    body?: unknown;
    params?: { [key: string]: string | number };
  } = {}
): Promise<T> {
  const init: RequestInit = { method: options.method || 'GET' };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url(path, options.params),
      init,
      settings
    );
  } catch (error) {
    throw new ApiError(0, `cannot reach the Jupyter server: ${error}`);
  }
  return parse(response);
}

/** A GET that sends ``If-None-Match``: a 304 costs the server no JSON and us no render. */
export async function getIfChanged<T>(
  path: string,
  etag: string | null,
  params?: { [key: string]: string | number }
): Promise<IConditional<T>> {
  const headers: { [key: string]: string } = {};
  if (etag) {
    headers['If-None-Match'] = etag;
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url(path, params),
      { method: 'GET', headers, cache: 'no-store' },
      settings
    );
  } catch (error) {
    throw new ApiError(0, `cannot reach the Jupyter server: ${error}`);
  }
  if (response.status === 304) {
    return { data: null, etag, unchanged: true };
  }
  const data = await parse(response);
  return { data, etag: response.headers.get('Etag'), unchanged: false };
}

export const TERMINAL = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'PAUSED',
  'EXPIRED',
  'PARTIALLY_SUCCEEDED',
  'NOT_SUBMITTED'
]);
