/**
 * A scripted server for the model's tests: it answers the model's calls from what a test
 * puts in it (groups, group details, logs), with ETags as the server gives them, and
 * records every call. The REST layer itself is exercised by the browser tests and the
 * contract test (tests/server/test_api_contract.py).
 */
import { ApiError, IConditional, IGroup, IGroupDetail, IJob } from '../api';
import { IModelApi, INoticeActions, INotifier } from '../model';
import { INotice } from '../notices';

export function group(
  xgroup: string,
  counts: { [state: string]: number },
  extra: Partial<IGroup> = {}
): IGroup {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const done = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'NOT_SUBMITTED'];
  return {
    xgroup,
    backend: 'local',
    project: 'local',
    region: 'us-central1',
    created: '2026-01-01T00:00:00Z',
    total,
    counts,
    finished: total > 0 && Object.keys(counts).every(s => done.includes(s)),
    ...extra
  };
}

export function job(xgroup: string, index: number, state: string): IJob {
  return {
    submission_id: `${xgroup}-${index}`,
    display_name: `caliban_me_20260101_000000_${index}`,
    xgroup,
    index,
    state,
    backend: 'local',
    project: 'local',
    region: 'us-central1',
    image_uri: 'img:1',
    args: ['--lr', String(index)],
    labels: {},
    machine: { machineType: 'n1-standard-4' },
    resource_name: `projects/local/locations/us-central1/customJobs/${index}`,
    created: '2026-01-01T00:00:00Z',
    started: null,
    ended: null,
    updated: null,
    error: state === 'FAILED' ? 'exited with status 1\nTraceback...' : null,
    url: null,
    web_access_uris: {},
    notebook_url: null
  };
}

export class FakeServer implements IModelApi {
  calls: string[] = [];
  groups: IGroup[] = [];
  jobs = new Map<string, IJob[]>();
  logs = new Map<string, string>();
  /** Set: every call fails with it (a server down, or without our extension: 404). */
  failure: ApiError | null = null;

  async getIfChanged<T>(
    path: string,
    etag: string | null
  ): Promise<IConditional<T>> {
    this.calls.push(`GET ${path}${etag ? ' (etag)' : ''}`);
    if (this.failure) {
      throw this.failure;
    }
    const data = this.answer(path);
    const current = JSON.stringify(data);
    if (etag === current) {
      return { data: null, etag, unchanged: true };
    }
    return { data: data as T, etag: current, unchanged: false };
  }

  async request<T>(
    path: string,
    options: { method?: string; body?: unknown } = {}
  ): Promise<T> {
    this.calls.push(`${options.method || 'GET'} ${path}`);
    if (this.failure) {
      throw this.failure;
    }
    const logs = path.match(/^jobs\/([^/]+)\/logs$/);
    if (logs) {
      return { text: this.logs.get(decodeURIComponent(logs[1])) || '' } as T;
    }
    const action = path.match(/^groups\/([^/]+)\/(stop|resubmit)$/);
    if (action) {
      return { jobs: [] } as T;
    }
    return this.answer(path) as T;
  }

  /** How many calls so far were ``what`` (e.g. ``GET groups``, etag or not). */
  count(what: string): number {
    return this.calls.filter(c => c === what || c.startsWith(`${what} (`))
      .length;
  }

  private answer(path: string): unknown {
    if (path === 'groups') {
      return { groups: this.groups };
    }
    const xgroup = decodeURIComponent(path.replace(/^groups\//, ''));
    const summary = this.groups.find(g => g.xgroup === xgroup);
    if (!summary) {
      throw new ApiError(404, `no experiment group ${xgroup}`);
    }
    const detail: IGroupDetail = {
      ...summary,
      jobs: this.jobs.get(xgroup) || []
    };
    return detail;
  }
}

export class RecordingNotifier implements INotifier {
  notices: INotice[] = [];
  actions: INoticeActions[] = [];
  infos: string[] = [];
  errors: string[] = [];

  notice(notice: INotice, actions: INoticeActions): void {
    this.notices.push(notice);
    this.actions.push(actions);
  }
  info(message: string): void {
    this.infos.push(message);
  }
  error(message: string): void {
    this.errors.push(message);
  }
}
