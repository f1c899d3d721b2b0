/**
 * What the Caliban panel shows, kept fresh by polling the server with ETags.
 *
 * The server has one refresher for every tab; a poll here only reads what it recorded
 * (a 304 when nothing changed). While the panel is hidden, only the group list is checked,
 * slowly, so the notifications (a group finished, a job failed) still come.
 */
import { Notification } from '@jupyterlab/apputils';
import { ISignal, Signal } from '@lumino/signaling';

import {
  ApiError,
  getIfChanged,
  IGroup,
  IGroupDetail,
  IJob,
  request,
  TERMINAL
} from './api';

export interface ILogView {
  xgroup: string;
  job: string;
  text: string;
  following: boolean;
  error: string | null;
}

/** Seconds between checks while the panel is hidden (notifications only). */
const HIDDEN_INTERVAL = 30;

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

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  setVisible(visible: boolean): void {
    this._visible = visible;
    this.schedule(0);
  }

  /** Poll now (after an action or a submission). */
  refresh(): void {
    this._groupsEtag = null;
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
      const reply = await request<{ jobs: IJob[] }>(
        `groups/${encodeURIComponent(xgroup)}/${action}`,
        { method: 'POST', body: jobs ? { jobs } : {} }
      );
      const n = reply.jobs.length;
      const what = action === 'stop' ? 'asked to stop' : 'resubmitted';
      Notification.info(
        n
          ? `${xgroup}: ${what} ${n} job${n === 1 ? '' : 's'}`
          : `${xgroup}: nothing to ${action}`,
        { autoClose: 4000 }
      );
      this._detailEtags.delete(xgroup);
      this.refresh();
      return reply.jobs;
    } catch (e) {
      Notification.error(`${action} ${xgroup}: ${(e as Error).message}`, {
        autoClose: 10000
      });
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
      if (this._visible && !this.missing) {
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
      this.schedule(this._visible ? this.interval : HIDDEN_INTERVAL);
    }
  }

  private async pollGroups(): Promise<void> {
    try {
      const reply = await getIfChanged<{ groups: IGroup[] }>(
        'groups',
        this._groupsEtag
      );
      this.missing = false;
      this.error = null;
      if (!reply.unchanged && reply.data) {
        this._groupsEtag = reply.etag;
        this.notifyChanges(reply.data.groups);
        this.groups = reply.data.groups;
        // An expanded group whose summary changed has new jobs to show.
        for (const group of this.groups) {
          const detail = this.details.get(group.xgroup);
          if (detail && JSON.stringify(detail.counts) !== JSON.stringify(group.counts)) {
            this._detailEtags.delete(group.xgroup);
          }
        }
      }
    } catch (e) {
      this.missing = e instanceof ApiError && e.status === 404;
      this.error = this.missing ? null : (e as Error).message;
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
      const reply = await getIfChanged<IGroupDetail>(
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
      const reply = await request<{ text: string }>(
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

  private notifyChanges(groups: IGroup[]): void {
    if (!this.loaded) {
      return; // the first listing is the baseline, not news
    }
    const before = new Map(this.groups.map(g => [g.xgroup, g]));
    for (const group of groups) {
      const previous = before.get(group.xgroup);
      if (!previous) {
        continue;
      }
      const failed = (group.counts.FAILED || 0) - (previous.counts.FAILED || 0);
      if (failed > 0) {
        this.notifyFailed(group, failed);
      }
      if (!previous.finished && group.finished && group.total > 0) {
        const summary = Object.entries(group.counts)
          .map(([state, n]) => `${n} ${state}`)
          .join(', ');
        const notify = group.counts.FAILED ? Notification.warning : Notification.success;
        notify(`Experiment group ${group.xgroup} finished: ${summary}`, {
          autoClose: 8000,
          actions: [
            {
              label: 'Show',
              callback: () => this.expand(group.xgroup)
            }
          ]
        });
      }
      const was = previous.submission?.state;
      if (group.submission?.state === 'failed' && was !== 'failed') {
        Notification.error(
          `Submission of ${group.submission.notebook} failed: ${group.submission.error}`,
          { autoClose: false }
        );
      }
    }
  }

  private notifyFailed(group: IGroup, n: number): void {
    Notification.error(
      `${n} job${n === 1 ? '' : 's'} of ${group.xgroup} FAILED`,
      {
        autoClose: 15000,
        actions: [
          {
            label: 'Show logs',
            callback: () => void this.showFailedLogs(group.xgroup)
          },
          {
            label: 'Resubmit',
            callback: () => void this.act(group.xgroup, 'resubmit')
          }
        ]
      }
    );
  }

  private async showFailedLogs(xgroup: string): Promise<void> {
    this.expand(xgroup);
    const detail = await request<IGroupDetail>(`groups/${encodeURIComponent(xgroup)}`);
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
  private _groupsEtag: string | null = null;
  private _detailEtags = new Map<string, string>();
}
