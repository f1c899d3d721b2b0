/**
 * What the Caliban panel shows, kept fresh by polling the server with ETags.
 *
 * The server has one refresher for every tab; a poll here only reads what it recorded
 * (a 304 when nothing changed). While the panel is hidden (or was never opened), only
 * the group list is checked, ten times less often, so the notifications (a group
 * finished, a job failed: see notices.ts) still come. A server that does not answer is
 * asked again less and less often (back-off), and at the usual pace once it answers.
 */
import { ISignal, Signal } from '@lumino/signaling';

import {
  ApiError,
  getIfChanged,
  IConditional,
  IGroup,
  IGroupDetail,
  IJob,
  request,
  TERMINAL
} from './api';
import { decideNotices, INotice } from './notices';

export interface ILogView {
  xgroup: string;
  job: string;
  text: string;
  following: boolean;
  error: string | null;
}

/** The server calls the model makes (api.ts; a test passes its own). */
export interface IModelApi {
  getIfChanged<T>(path: string, etag: string | null): Promise<IConditional<T>>;
  request<T>(
    path: string,
    options?: {
      method?: string;
      body?: unknown;
      params?: { [key: string]: string | number };
    }
  ): Promise<T>;
}

/** How the model tells the user something (JupyterLab's notifications; a test records). */
export interface INotifier {
  notice(notice: INotice, actions: INoticeActions): void;
  info(message: string): void;
  error(message: string): void;
}

/** What a notice's buttons do. */
export interface INoticeActions {
  show: () => void;
  showLogs: () => void;
  resubmit: () => void;
}

/** How much less often the group list is checked while the panel is hidden, and at most
 * how many seconds apart. */
export const HIDDEN_FACTOR = 10;
export const HIDDEN_MAX = 30;
/** The longest wait between two checks of a server that does not answer. */
export const BACKOFF_MAX = 60;

const DEFAULT_API: IModelApi = { getIfChanged, request };

export class CalibanModel {
  groups: IGroup[] = [];
  details = new Map<string, IGroupDetail>();
  expanded = new Set<string>();
  log: ILogView | null = null;
  error: string | null = null;
  /** The server extension does not answer: the panel says how to enable it. */
  missing = false;
  loaded = false;
  /** Seconds between polls while the panel is visible (a setting). */
  interval = 3;
  onShowLogs: (() => void) | null = null;

  constructor(
    readonly notifier: INotifier,
    private api: IModelApi = DEFAULT_API
  ) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get visible(): boolean {
    return this._visible;
  }

  /** Seconds until the next check: the setting while visible, less often while hidden,
   * longer after each failed check (doubling, at most ``BACKOFF_MAX``). */
  get delay(): number {
    const base = this._visible
      ? this.interval
      : Math.min(this.interval * HIDDEN_FACTOR, HIDDEN_MAX);
    if (!this._failures) {
      return base;
    }
    return Math.min(base * 2 ** this._failures, Math.max(BACKOFF_MAX, base));
  }

  setVisible(visible: boolean): void {
    this._visible = visible;
    this.schedule(0);
  }

  /** The refresh interval setting changed: the next check follows it. */
  setInterval(seconds: number): void {
    this.interval = Math.max(0.5, seconds);
    this.schedule(0);
  }

  /** Poll now (after an action or a submission). */
  refresh(): void {
    this._groupsEtag = null;
    this._failures = 0;
    this.schedule(0);
  }

  toggle(xgroup: string): void {
    if (this.expanded.has(xgroup)) {
      this.expanded.delete(xgroup);
    } else {
      this.expanded.add(xgroup);
      this._detailEtags.delete(xgroup);
      this.schedule(0);
    }
    this._changed.emit();
  }

  expand(xgroup: string): void {
    if (!this.expanded.has(xgroup)) {
      this.toggle(xgroup);
    }
  }

  showLogs(xgroup: string, job: string): void {
    this.log = { xgroup, job, text: '', following: true, error: null };
    this._changed.emit();
    if (this.onShowLogs) {
      this.onShowLogs();
    }
    void this.pollLog();
  }

  closeLogs(): void {
    this.log = null;
    this._changed.emit();
  }

  async act(
    xgroup: string,
    action: 'stop' | 'resubmit',
    jobs?: string[]
  ): Promise<IJob[]> {
    try {
      const reply = await this.api.request<{ jobs: IJob[] }>(
        `groups/${encodeURIComponent(xgroup)}/${action}`,
        { method: 'POST', body: jobs ? { jobs } : {} }
      );
      const n = reply.jobs.length;
      const what = action === 'stop' ? 'asked to stop' : 'resubmitted';
      this.notifier.info(
        n
          ? `${xgroup}: ${what} ${n} job${n === 1 ? '' : 's'}`
          : `${xgroup}: nothing to ${action}`
      );
      this._detailEtags.delete(xgroup);
      this.refresh();
      return reply.jobs;
    } catch (e) {
      this.notifier.error(`${action} ${xgroup}: ${(e as Error).message}`);
      return [];
    }
  }

  dispose(): void {
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._disposed = true;
  }

  // -- polling ------------------------------------------------------------------------

  schedule(delay: number): void {
    if (this._disposed) {
      return;
    }
    if (this._timer !== null) {
      clearTimeout(this._timer);
    }
    this._timer = setTimeout(() => {
      this._timer = null;
      void this.poll();
    }, delay * 1000);
  }

  async poll(): Promise<void> {
    if (this._polling) {
      this._again = true;
      return;
    }
    this._polling = true;
    try {
      await this.pollGroups();
      if (this._visible && !this.missing && !this._failures) {
        await Promise.all([...this.expanded].map(x => this.pollDetail(x)));
        await this.pollLog();
      }
    } finally {
      this._polling = false;
    }
    if (this._again) {
      this._again = false;
      this.schedule(0);
    } else {
      this.schedule(this.delay);
    }
  }

  private async pollGroups(): Promise<void> {
    try {
      const reply = await this.api.getIfChanged<{ groups: IGroup[] }>(
        'groups',
        this._groupsEtag
      );
      this.missing = false;
      this.error = null;
      this._failures = 0;
      if (!reply.unchanged && reply.data) {
        this._groupsEtag = reply.etag;
        this.announce(reply.data.groups);
        this.groups = reply.data.groups;
        // An expanded group whose summary changed has new jobs to show.
        for (const group of this.groups) {
          const detail = this.details.get(group.xgroup);
          if (
            detail &&
            (JSON.stringify(detail.counts) !== JSON.stringify(group.counts) ||
              JSON.stringify(detail.submission) !==
                JSON.stringify(group.submission))
          ) {
            this._detailEtags.delete(group.xgroup);
          }
        }
      }
    } catch (e) {
      this.missing = e instanceof ApiError && e.status === 404;
      this.error = this.missing ? null : (e as Error).message;
      this._failures += 1;
    }
    this.loaded = true;
    this._changed.emit();
  }

  private async pollDetail(xgroup: string): Promise<void> {
    const known = this.details.get(xgroup);
    if (known && known.finished && this._detailEtags.has(xgroup)) {
      return; // a finished group changes only through an action (which clears its ETag)
    }
    try {
      const reply = await this.api.getIfChanged<IGroupDetail>(
        `groups/${encodeURIComponent(xgroup)}`,
        this._detailEtags.get(xgroup) || null
      );
      if (!reply.unchanged && reply.data) {
        this._detailEtags.set(xgroup, reply.etag || '');
        this.details.set(xgroup, reply.data);
        this._changed.emit();
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        this.expanded.delete(xgroup);
      }
    }
  }

  async pollLog(): Promise<void> {
    const log = this.log;
    if (!log || (!log.following && log.text)) {
      return;
    }
    try {
      const reply = await this.api.request<{ text: string }>(
        `jobs/${encodeURIComponent(log.job)}/logs`,
        { params: { tail: 500, xgroup: log.xgroup } }
      );
      const job = this.details
        .get(log.xgroup)
        ?.jobs.find(j => j.display_name === log.job);
      if (this.log === log) {
        log.text = reply.text;
        log.error = null;
        // Follow a job until it ends (one more read after that gets its last lines).
        log.following = !job || !TERMINAL.has(job.state);
      }
    } catch (e) {
      if (this.log === log) {
        log.error = (e as Error).message;
        log.following = false;
      }
    }
    this._changed.emit();
  }

  // -- notifications --------------------------------------------------------------------

  private announce(groups: IGroup[]): void {
    const notices = decideNotices(this.loaded ? this._seen : null, groups);
    for (const group of groups) {
      this._seen.set(group.xgroup, group);
    }
    for (const notice of notices) {
      this.notifier.notice(notice, {
        show: () => {
          this.expand(notice.xgroup);
          if (this.onShowLogs) {
            this.onShowLogs();
          }
        },
        showLogs: () => void this.showFailedLogs(notice.xgroup),
        resubmit: () => void this.act(notice.xgroup, 'resubmit')
      });
    }
  }

  private async showFailedLogs(xgroup: string): Promise<void> {
    this.expand(xgroup);
    const detail = await this.api.request<IGroupDetail>(
      `groups/${encodeURIComponent(xgroup)}`
    );
    this.details.set(xgroup, detail);
    const failed = detail.jobs.find(j => j.state === 'FAILED');
    if (failed) {
      this.showLogs(xgroup, failed.display_name);
    }
  }

  private _changed = new Signal<this, void>(this);
  private _visible = false;
  private _timer: ReturnType<typeof setTimeout> | null = null;
  private _polling = false;
  private _again = false;
  private _disposed = false;
  private _failures = 0;
  private _groupsEtag: string | null = null;
  private _detailEtags = new Map<string, string>();
  /** Every group this tab saw, as last seen (never forgotten: a group that leaves the
   * first page and comes back is not new); each change is announced once. */
  private _seen = new Map<string, IGroup>();
}
