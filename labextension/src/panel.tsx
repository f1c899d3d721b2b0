/**
 * The "Caliban" side panel: every experiment group (from the lab, kernels or the CLI),
 * live while visible; counts and a progress bar per group; jobs with stop, resubmit and
 * a log view that follows a running job. Laid out for the side panel's default width:
 * a job is its index and arguments first (the group's common name prefix once), an
 * error one line until expanded, every action a labelled button.
 */
import {
  showDialog,
  Dialog,
  ReactWidget,
  UseSignal
} from '@jupyterlab/apputils';
import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React from 'react';

import { IGroup, IGroupDetail, IJob, TERMINAL } from './api';
import {
  accelerator,
  argsText,
  commonPrefix,
  countsText,
  duration,
  firstLine,
  nameSuffix,
  ordered
} from './format';
import { CalibanModel, ILogView } from './model';

const SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M4 4h7v7H4zm9 0h7v7h-7zM4 13h7v7H4z' +
  'm9 3.5a3.5 3.5 0 1 0 7 0 3.5 3.5 0 1 0-7 0z"/></svg>';

export const calibanIcon = new LabIcon({
  name: 'caliban-jupyter:icon',
  svgstr: SVG
});

function Progress(props: { group: IGroup }): JSX.Element {
  const { group } = props;
  const total = Math.max(group.total, 1);
  return (
    <div className="caliban-progress" aria-hidden="true">
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

/** A button with visible words, an accessible name and a tooltip saying what it does. */
function Action(props: {
  className: string;
  label: string;
  description: string;
  onClick: () => void;
}): JSX.Element {
  return (
    <button
      type="button"
      className={`caliban-button ${props.className}`}
      aria-label={props.description}
      title={props.description}
      onClick={props.onClick}
    >
      {props.label}
    </button>
  );
}

/** An error as its first line; the whole text (a URL, the last log lines) on demand. */
function JobError(props: { text: string }): JSX.Element {
  const first = firstLine(props.text);
  const rest = props.text.trim() !== first;
  return (
    <details className="caliban-job-error">
      <summary title={rest ? 'show the whole error' : first}>{first}</summary>
      {rest && (
        <pre className="caliban-job-error-text">{props.text.trim()}</pre>
      )}
    </details>
  );
}

function JobRow(props: {
  model: CalibanModel;
  job: IJob;
  prefix: string;
}): JSX.Element {
  const { model, job, prefix } = props;
  const running = !TERMINAL.has(job.state) && !!job.resource_name;
  const resubmittable = ['FAILED', 'CANCELLED', 'NOT_SUBMITTED'].includes(
    job.state
  );
  const suffix = nameSuffix(job, prefix);
  const which = `job ${job.index}${suffix ? ` (${suffix})` : ''} of ${job.xgroup}`;
  const details = [
    duration(job),
    job.machine.machineType || '',
    accelerator(job)
  ].filter(Boolean);
  const index = <span className="caliban-job-index">{job.index}</span>;
  return (
    <li
      className="caliban-job"
      data-name={job.display_name}
      title={job.display_name}
    >
      <div className="caliban-job-title">
        {job.url ? (
          <a
            href={job.url}
            target="_blank"
            rel="noreferrer"
            aria-label={`Open ${which} in the job service's console`}
            title={`${job.display_name}: open it in the job service's console`}
          >
            {index}
          </a>
        ) : (
          index
        )}
        {suffix && <span className="caliban-job-suffix">{suffix}</span>}
        <span className="caliban-job-args">{argsText(job)}</span>
      </div>
      <div className="caliban-job-line">
        <span className={`caliban-state caliban-state-${job.state}`}>
          {job.state}
        </span>
        {details.length > 0 && (
          <span className="caliban-job-details">{details.join(' · ')}</span>
        )}
        {job.notebook_url && (
          <a
            className="caliban-job-notebook"
            href={job.notebook_url}
            target="_blank"
            rel="noreferrer"
            aria-label={`Open the executed notebook of ${which}`}
            title="the executed notebook"
          >
            ipynb
          </a>
        )}
        <span
          className="caliban-job-actions"
          role="group"
          aria-label={`Actions on ${which}`}
        >
          {job.resource_name && (
            <Action
              className="caliban-logs"
              label="Log"
              description={`Show the log of ${which}`}
              onClick={() => model.showLogs(job.xgroup, job.display_name)}
            />
          )}
          {running && (
            <Action
              className="caliban-stop"
              label="Stop"
              description={`Stop ${which}`}
              onClick={() =>
                void model.act(job.xgroup, 'stop', [job.display_name])
              }
            />
          )}
          {resubmittable && (
            <Action
              className="caliban-resubmit"
              label="Resubmit"
              description={`Resubmit ${which}`}
              onClick={() =>
                void model.act(job.xgroup, 'resubmit', [job.display_name])
              }
            />
          )}
        </span>
      </div>
      {job.error && job.state !== 'SUCCEEDED' && <JobError text={job.error} />}
    </li>
  );
}

function Jobs(props: {
  model: CalibanModel;
  detail?: IGroupDetail;
}): JSX.Element {
  const { model, detail } = props;
  if (!detail) {
    return <div className="caliban-note">loading jobs…</div>;
  }
  if (!detail.jobs.length) {
    return <div className="caliban-note">no jobs yet</div>;
  }
  const prefix = commonPrefix(detail.jobs.map(j => j.display_name));
  return (
    <div className="caliban-jobs">
      {prefix && (
        <div
          className="caliban-jobs-prefix"
          title={`every job's name is ${prefix} then its index`}
        >
          {prefix}
          <var>n</var>
        </div>
      )}
      <ul className="caliban-job-list" aria-label={`Jobs of ${detail.xgroup}`}>
        {detail.jobs.map(job => (
          <JobRow
            key={job.display_name}
            model={model}
            job={job}
            prefix={prefix}
          />
        ))}
      </ul>
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

const RESUBMITTABLE = ['FAILED', 'CANCELLED', 'NOT_SUBMITTED'];

function Group(props: { model: CalibanModel; group: IGroup }): JSX.Element {
  const { model, group } = props;
  const open = model.expanded.has(group.xgroup);
  const summary = countsText(group.counts);
  const sub = group.submission;
  const retry = RESUBMITTABLE.some(s => group.counts[s]);
  const where = `${group.backend}${
    group.project && group.backend === 'vertex' ? ` · ${group.project}` : ''
  }`;
  return (
    <li
      className={`caliban-group${group.finished ? ' caliban-finished' : ''}`}
      data-xgroup={group.xgroup}
    >
      <button
        type="button"
        className="caliban-group-head"
        aria-expanded={open}
        title={open ? 'hide the jobs' : 'show the jobs'}
        onClick={() => model.toggle(group.xgroup)}
      >
        <span className="caliban-caret" aria-hidden="true">
          {open ? '▾' : '▸'}
        </span>
        <span className="caliban-group-name">{group.xgroup}</span>
      </button>
      <Progress group={group} />
      <div className="caliban-group-line">
        <span className="caliban-group-counts">
          {group.total} job{group.total === 1 ? '' : 's'}
          {summary ? `: ${summary}` : ''}
        </span>
        <span className="caliban-group-where">{where}</span>
      </div>
      {(!group.finished && group.total > 0) || retry ? (
        <div
          className="caliban-group-actions"
          role="group"
          aria-label={`Actions on group ${group.xgroup}`}
        >
          {!group.finished && group.total > 0 && (
            <Action
              className="caliban-group-stop"
              label="Stop group"
              description={`Stop every running job of ${group.xgroup}`}
              onClick={async () => {
                if (await confirmStop(group)) {
                  void model.act(group.xgroup, 'stop');
                }
              }}
            />
          )}
          {retry && (
            <Action
              className="caliban-group-resubmit"
              label="Resubmit failed"
              description={`Resubmit the FAILED, CANCELLED and NOT_SUBMITTED jobs of ${group.xgroup}`}
              onClick={() => void model.act(group.xgroup, 'resubmit')}
            />
          )}
        </div>
      ) : null}
      {sub && sub.state !== 'submitted' && (
        <div className={`caliban-submission caliban-submission-${sub.state}`}>
          {sub.state === 'failed' ? sub.error : sub.message}
        </div>
      )}
      {group.refresh_error && (
        <div className="caliban-refresh-error">
          not refreshed: {group.refresh_error}
        </div>
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
  const job = model.details
    .get(log.xgroup)
    ?.jobs.find(j => j.display_name === log.job);
  return (
    <section className="caliban-log" aria-label={`Log of ${log.job}`}>
      <div className="caliban-log-head">
        <span className="caliban-log-title" title={log.job}>
          Log of{' '}
          {job ? (
            <>
              job <b>{job.index}</b>{' '}
              <span className="caliban-log-args">{argsText(job)}</span>
            </>
          ) : (
            <b className="caliban-log-name">{log.job}</b>
          )}
          {log.following && (
            <span className="caliban-log-following"> following</span>
          )}
        </span>
        <Action
          className="caliban-log-close"
          label="Close"
          description="Close the log"
          onClick={() => model.closeLogs()}
        />
      </div>
      {log.error ? (
        <div className="caliban-error">{log.error}</div>
      ) : (
        <pre ref={ref} className="caliban-log-text" tabIndex={0}>
          {log.text || '(no output yet)'}
        </pre>
      )}
    </section>
  );
}

function PanelBody(props: { model: CalibanModel }): JSX.Element {
  const { model } = props;
  return (
    <div className="caliban-panel-body">
      <div className="caliban-header">
        <h2 className="caliban-title">Caliban</h2>
        <Action
          className="caliban-refresh"
          label="Refresh"
          description="Check the experiment groups now"
          onClick={() => model.refresh()}
        />
      </div>
      {model.missing && (
        <div className="caliban-missing">
          The caliban server extension is not running in this Jupyter server.
          Enable it with{' '}
          <code>jupyter server extension enable caliban_jupyter.server</code>{' '}
          (it is enabled when caliban-jupyter is installed with pip in the
          server's environment), then restart Jupyter.
        </div>
      )}
      {model.error && <div className="caliban-error">{model.error}</div>}
      {model.loaded && !model.missing && !model.groups.length && (
        <div className="caliban-note caliban-empty">
          No experiment groups yet. Submit one with “Run as job” on a notebook's
          toolbar, <code>%%caliban_cloud</code> in a cell, or{' '}
          <code>caliban cloud</code> in a terminal.
        </div>
      )}
      <ul className="caliban-groups" aria-label="Experiment groups">
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
