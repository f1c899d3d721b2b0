/**
 * The "Caliban" side panel: every experiment group (from the lab, kernels or the CLI),
 * live while visible; counts and a progress bar per group; jobs with stop, resubmit and
 * a log view that follows a running job.
 */
import { showDialog, Dialog, ReactWidget, UseSignal } from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React from 'react';

import { IGroup, IGroupDetail, IJob, TERMINAL } from './api';
import { CalibanModel, ILogView } from './model';

const SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M4 4h7v7H4zm9 0h7v7h-7zM4 13h7v7H4z' +
  'm9 3.5a3.5 3.5 0 1 0 7 0 3.5 3.5 0 1 0-7 0z"/></svg>';

export const calibanIcon = new LabIcon({ name: 'caliban-jupyter:icon', svgstr: SVG });

/** Display order of states in counts and progress bars: what needs attention first. */
const ORDER = [
  'RUNNING',
  'PENDING',
  'QUEUED',
  'SUCCEEDED',
  'FAILED',
  'CANCELLING',
  'CANCELLED',
  'NOT_SUBMITTED'
];

function ordered(counts: { [state: string]: number }): [string, number][] {
  const rank = (s: string) => (ORDER.includes(s) ? ORDER.indexOf(s) : ORDER.length);
  return Object.entries(counts).sort((a, b) => rank(a[0]) - rank(b[0]));
}

function duration(job: IJob): string {
  const start = job.started || job.created;
  if (!start) {
    return '';
  }
  const end = job.ended ? Date.parse(job.ended) : Date.now();
  let s = Math.max(0, Math.round((end - Date.parse(start)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  s = s % 60;
  return h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`;
}

function accelerator(job: IJob): string {
  const m = job.machine;
  if (!m.acceleratorType) {
    return '–';
  }
  const short = m.acceleratorType.replace(/^NVIDIA_(TESLA_)?/, '');
  return `${m.acceleratorCount || 1}×${short}`;
}

function Progress(props: { group: IGroup }): JSX.Element {
  const { group } = props;
  const total = Math.max(group.total, 1);
  return (
    <div className="caliban-progress" title={`${group.total} jobs`}>
      {ordered(group.counts).map(([state, n]) => (
        <div
          key={state}
          className={`caliban-progress-part caliban-bg-${state}`}
          style={{ width: `${(100 * n) / total}%` }}
        />
      ))}
    </div>
  );
}

function JobRow(props: { model: CalibanModel; job: IJob }): JSX.Element {
  const { model, job } = props;
  const running = !TERMINAL.has(job.state) && !!job.resource_name;
  const resubmittable = ['FAILED', 'CANCELLED', 'NOT_SUBMITTED'].includes(job.state);
  const details = [
    job.args.join(' ') || '(no args)',
    duration(job),
    job.machine.machineType || '',
    accelerator(job)
  ].filter(Boolean);
  return (
    <div className="caliban-job" data-name={job.display_name}>
      <div className="caliban-job-line">
        <span className="caliban-job-index">{job.index}</span>
        <span className={`caliban-state caliban-state-${job.state}`} title={job.error || ''}>
          {job.state}
        </span>
        <span className="caliban-job-name" title={job.display_name}>
          {job.url ? (
            <a href={job.url} target="_blank" rel="noreferrer">
              {job.display_name}
            </a>
          ) : (
            job.display_name
          )}
          {job.notebook_url ? (
            <a
              className="caliban-job-notebook"
              href={job.notebook_url}
              target="_blank"
              rel="noreferrer"
              title="the executed notebook"
            >
              {' '}
              ipynb
            </a>
          ) : null}
        </span>
        <span className="caliban-job-actions">
          <button
            className="caliban-button caliban-stop"
            title="stop this job"
            disabled={!running}
            onClick={() => void model.act(job.xgroup, 'stop', [job.display_name])}
          >
            ■
          </button>
          <button
            className="caliban-button caliban-resubmit"
            title="resubmit this job"
            disabled={!resubmittable}
            onClick={() => void model.act(job.xgroup, 'resubmit', [job.display_name])}
          >
            ↻
          </button>
          <button
            className="caliban-button caliban-logs"
            title="show this job's log"
            disabled={!job.resource_name}
            onClick={() => model.showLogs(job.xgroup, job.display_name)}
          >
            ≣
          </button>
        </span>
      </div>
      <div className="caliban-job-details" title={details.join(' · ')}>
        {details.join(' · ')}
      </div>
      {job.error && job.state !== 'SUCCEEDED' && (
        <div className="caliban-job-error">{job.error}</div>
      )}
    </div>
  );
}

function Jobs(props: { model: CalibanModel; detail?: IGroupDetail }): JSX.Element {
  const { model, detail } = props;
  if (!detail) {
    return <div className="caliban-note">loading jobs…</div>;
  }
  if (!detail.jobs.length) {
    return <div className="caliban-note">no jobs yet</div>;
  }
  return (
    <div className="caliban-jobs">
      {detail.jobs.map(job => (
        <JobRow key={job.display_name} model={model} job={job} />
      ))}
    </div>
  );
}

async function confirmStop(group: IGroup): Promise<boolean> {
  const result = await showDialog({
    title: 'Stop experiment group',
    body: `Stop every running job of ${group.xgroup}?`,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
  });
  return result.button.accept;
}

function Group(props: { model: CalibanModel; group: IGroup }): JSX.Element {
  const { model, group } = props;
  const open = model.expanded.has(group.xgroup);
  const summary = ordered(group.counts)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const sub = group.submission;
  return (
    <li
      className={`caliban-group${group.finished ? ' caliban-finished' : ''}`}
      data-xgroup={group.xgroup}
    >
      <div className="caliban-group-head" onClick={() => model.toggle(group.xgroup)}>
        <span className="caliban-caret">{open ? '▾' : '▸'}</span>
        <span className="caliban-group-name" title={group.xgroup}>
          {group.xgroup}
        </span>
        <span className="caliban-group-where">
          {group.backend}
          {group.project && group.backend === 'vertex' ? ` · ${group.project}` : ''}
        </span>
      </div>
      <Progress group={group} />
      <div className="caliban-group-line">
        <span className="caliban-group-counts">
          {group.total} job{group.total === 1 ? '' : 's'}
          {summary ? `: ${summary}` : ''}
        </span>
        <span className="caliban-group-actions">
          <button
            className="caliban-button"
            title="stop every running job of this group"
            disabled={group.finished || !group.total}
            onClick={async () => {
              if (await confirmStop(group)) {
                void model.act(group.xgroup, 'stop');
              }
            }}
          >
            ■
          </button>
          <button
            className="caliban-button"
            title="resubmit the FAILED, CANCELLED and NOT_SUBMITTED jobs"
            disabled={!group.total}
            onClick={() => void model.act(group.xgroup, 'resubmit')}
          >
            ↻
          </button>
        </span>
      </div>
      {sub && sub.state !== 'submitted' && (
        <div className={`caliban-submission caliban-submission-${sub.state}`}>
          {sub.state === 'failed' ? sub.error : sub.message}
        </div>
      )}
      {group.refresh_error && (
        <div className="caliban-refresh-error">not refreshed: {group.refresh_error}</div>
      )}
      {open && <Jobs model={model} detail={model.details.get(group.xgroup)} />}
    </li>
  );
}

function LogView(props: { model: CalibanModel; log: ILogView }): JSX.Element {
  const { model, log } = props;
  const ref = React.useRef<HTMLPreElement>(null);
  React.useEffect(() => {
    if (ref.current && log.following) {
      ref.current.scrollTop = ref.current.scrollHeight;
    }
  });
  return (
    <div className="caliban-log">
      <div className="caliban-log-head">
        <span>
          log of <b>{log.job}</b>
          {log.following ? ' (following)' : ''}
        </span>
        <button className="caliban-button" title="close the log" onClick={() => model.closeLogs()}>
          ✕
        </button>
      </div>
      {log.error ? (
        <div className="caliban-error">{log.error}</div>
      ) : (
        <pre ref={ref} className="caliban-log-text">
          {log.text || '(no output yet)'}
        </pre>
      )}
    </div>
  );
}

function PanelBody(props: { model: CalibanModel }): JSX.Element {
  const { model } = props;
  return (
    <div className="caliban-panel-body">
      <div className="caliban-header">
        <span className="caliban-title">Caliban</span>
        <button className="caliban-button" title="refresh now" onClick={() => model.refresh()}>
          ⟳
        </button>
      </div>
      {model.missing && (
        <div className="caliban-missing">
          The caliban server extension is not running in this Jupyter server. Enable it
          with <code>jupyter server extension enable caliban_jupyter.server</code> (it is
          enabled when caliban-jupyter is installed with pip in the server's environment),
          then restart Jupyter.
        </div>
      )}
      {model.error && <div className="caliban-error">{model.error}</div>}
      {model.loaded && !model.missing && !model.groups.length && (
        <div className="caliban-note">
          No experiment groups yet. Submit one with “Run as job” on a notebook's toolbar,
          <code>%%caliban_cloud</code> in a cell, or <code>caliban cloud</code>.
        </div>
      )}
      <ul className="caliban-groups">
        {model.groups.map(group => (
          <Group key={group.xgroup} model={model} group={group} />
        ))}
      </ul>
      {model.log && <LogView model={model} log={model.log} />}
    </div>
  );
}

/** The side panel widget; polls only while it is visible. */
export class CalibanPanel extends ReactWidget {
  constructor(readonly model: CalibanModel) {
    super();
    this.id = 'caliban-panel';
    this.addClass('caliban-panel');
    this.title.icon = calibanIcon;
    this.title.caption = 'Caliban: experiment groups';
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => <PanelBody model={this.model} />}
      </UseSignal>
    );
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.setVisible(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.setVisible(false);
  }

  dispose(): void {
    this.model.dispose();
    super.dispose();
  }
}
