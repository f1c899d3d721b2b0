/**
 * "Run as job": a notebook becomes an experiment group. Choices come from the server's
 * catalog and follow each other; every change is checked by a dry run on the server (the
 * same plan the CLI makes), whose jobs are previewed and whose error disables Submit.
 */
import { Dialog, ReactWidget } from '@jupyterlab/apputils';
import React from 'react';

import {
  ApiError,
  ICatalogChoices,
  IDryRun,
  IFlag,
  IParameter,
  request
} from './api';
import { costSource, costText } from './cost';
import { choicesOf, FALLBACK_FLAGS, labFlags } from './flags';
import {
  IRuntime,
  NO_RUNTIME,
  runtimeOptions,
  RuntimeFields,
  runtimeSummary,
  Select,
  Text
} from './fields';

export interface IRunOptions {
  notebook: string;
  defaultBackend: string;
  /** Saves the notebook then creates the group; resolves to its name. */
  submit: (body: ISubmission) => Promise<string>;
  done: (xgroup: string) => void;
}

export interface ISubmission {
  notebook: string;
  options: { [key: string]: unknown };
  dry_run?: boolean;
}

interface IState {
  backend: string;
  project: string;
  kind: string;
  accelerator: string;
  count: string;
  machine: string;
  region: string;
  baseImage: string;
  xgroup: string;
  runtime: IRuntime;
  /** The lab's flags (GET flags; this version's own from an older server). */
  flags: IFlag[];
  config: string;
  choices: ICatalogChoices | null;
  parameters: IParameter[];
  preview: IDryRun | null;
  message: string | null;
  checking: boolean;
  submitting: boolean;
}

function initialConfig(parameters: IParameter[]): string {
  if (!parameters.length) {
    return '{\n  // one job per combination, e.g. "learning_rate": [0.1, 0.01]\n}\n';
  }
  const lines = parameters.map(p => `  //   ${p.name} = ${p.value}`).join('\n');
  return (
    "{\n  // one job per combination of values; the notebook's parameters\n" +
    '  // (its cell tagged "parameters") are:\n' +
    lines +
    '\n}\n'
  );
}

/** The options a submission sends: caliban cloud's flags as keys. */
export function optionsOf(s: IState): { [key: string]: unknown } {
  const options: { [key: string]: unknown } = { experiment_config: s.config };
  if (s.backend) {
    options.backend = s.backend;
  }
  if (s.project) {
    options.project_id = s.project;
  }
  if (s.kind === 'none') {
    options.nogpu = true;
  } else if (s.accelerator) {
    options[s.kind === 'TPU' ? 'tpu_spec' : 'gpu_spec'] =
      `${s.count || '1'}x${s.accelerator}`;
  }
  Object.assign(options, runtimeOptions(s.runtime, s.flags));
  for (const [key, value] of [
    ['machine_type', s.machine],
    ['region', s.region],
    ['base_image', s.baseImage],
    ['xgroup', s.xgroup]
  ]) {
    if (value) {
      options[key] = value;
    }
  }
  return options;
}

class RunForm extends React.Component<IRunOptions, IState> {
  constructor(props: IRunOptions) {
    super(props);
    this.state = {
      backend: props.defaultBackend,
      project: '',
      kind: 'GPU',
      accelerator: '',
      count: '',
      machine: '',
      region: '',
      baseImage: '',
      xgroup: '',
      runtime: NO_RUNTIME,
      flags: FALLBACK_FLAGS,
      config: initialConfig([]),
      choices: null,
      parameters: [],
      preview: null,
      message: null,
      checking: true,
      submitting: false
    };
  }

  async componentDidMount(): Promise<void> {
    try {
      const { parameters } = await request<{ parameters: IParameter[] }>(
        'parameters',
        {
          params: { notebook: this.props.notebook }
        }
      );
      this.setState({ parameters, config: initialConfig(parameters) });
    } catch (e) {
      this.setState({ message: (e as Error).message });
    }
    try {
      // The server's flags (a flag it adds shows here); an older server: this version's.
      this.setState({ flags: (await labFlags()).flags });
    } catch (e) {
      this.setState({ message: (e as Error).message });
    }
    await this.loadChoices();
    this.check();
  }

  componentWillUnmount(): void {
    clearTimeout(this._timer);
  }

  private async loadChoices(): Promise<void> {
    const s = this.state;
    try {
      const choices = await request<ICatalogChoices>('catalog', {
        params: {
          kind: s.kind,
          accelerator: s.kind === 'none' ? '' : s.accelerator,
          count: s.count,
          region: s.region
        }
      });
      this.setState({ choices });
    } catch (e) {
      this.setState({ message: (e as Error).message });
    }
  }

  private update(change: Partial<IState>, choices = false): void {
    this.setState(change as IState, () => {
      if (choices) {
        void this.loadChoices();
      }
      this.check();
    });
  }

  /** A dry run on the server, 400 ms after the last change. */
  private check(): void {
    clearTimeout(this._timer);
    this.setState({ checking: true });
    this._timer = setTimeout(async () => {
      const asked = ++this._asked;
      try {
        const preview = await request<IDryRun>('submissions', {
          method: 'POST',
          body: {
            notebook: this.props.notebook,
            options: optionsOf(this.state),
            dry_run: true
          }
        });
        if (asked === this._asked) {
          this.setState({ preview, message: null, checking: false });
        }
      } catch (e) {
        if (asked === this._asked) {
          this.setState({
            preview: null,
            message: (e as Error).message,
            checking: false
          });
        }
      }
    }, 400);
  }

  private async submit(): Promise<void> {
    this.setState({ submitting: true, message: null });
    try {
      const xgroup = await this.props.submit({
        notebook: this.props.notebook,
        options: optionsOf(this.state)
      });
      this.props.done(xgroup);
    } catch (e) {
      const message = e instanceof ApiError ? e.message : String(e);
      this.setState({ submitting: false, message });
    }
  }

  render(): JSX.Element {
    const s = this.state;
    const c = s.choices;
    const n = s.preview ? s.preview.jobs.length : 0;
    const ok = !!s.preview && !s.message && !s.checking && !s.submitting;
    return (
      <div className="caliban-dialog">
        <div className="caliban-dialog-notebook">
          Run <b>{this.props.notebook}</b> as a job sweep: one job per
          experiment, each running the notebook's code cells with its parameters
          set.
        </div>
        <div className="caliban-dialog-grid">
          <div className="caliban-dialog-column">
            <Select
              label="backend"
              name="backend"
              value={s.backend}
              options={choicesOf(
                s.flags,
                'backend',
                (c?.backends ?? []).map(b => b.name)
              )}
              empty="(from settings)"
              onChange={backend => this.update({ backend })}
            />
            {(c?.backends ?? []).find(b => b.name === s.backend)
              ?.needs_project !== false && (
              <Text
                label="project"
                name="project_id"
                value={s.project}
                placeholder="(from settings)"
                onChange={project => this.update({ project })}
              />
            )}
            <div
              className="caliban-field"
              role="group"
              aria-label="accelerator"
            >
              <span>accelerator</span>
              <span className="caliban-kinds">
                {(c ? c.kinds : ['GPU', 'TPU', 'none']).map(kind => (
                  <button
                    key={kind}
                    type="button"
                    aria-pressed={kind === s.kind}
                    className={`caliban-kind${kind === s.kind ? ' caliban-selected' : ''}`}
                    onClick={() =>
                      this.update({ kind, accelerator: '', count: '' }, true)
                    }
                  >
                    {kind}
                  </button>
                ))}
              </span>
            </div>
            {s.kind !== 'none' && (
              <Select
                label="type"
                name="accelerator"
                value={s.accelerator}
                options={c ? c.accelerators : []}
                empty={s.kind === 'GPU' ? '(default: 1xP100)' : '(choose)'}
                onChange={accelerator =>
                  this.update({ accelerator, count: '' }, true)
                }
              />
            )}
            {s.kind !== 'none' && s.accelerator && (
              <Select
                label="count"
                name="count"
                value={s.count}
                options={c ? c.counts.map(String) : []}
                empty="1"
                onChange={count => this.update({ count }, true)}
              />
            )}
            <Select
              label="machine type"
              name="machine_type"
              value={s.machine}
              options={c ? c.machine_types : []}
              empty="(default)"
              onChange={machine => this.update({ machine })}
            />
            <Select
              label="region"
              name="region"
              value={s.region}
              options={c ? c.regions : []}
              empty="(from settings)"
              onChange={region => this.update({ region }, true)}
            />
            <Text
              label="base image"
              name="base_image"
              value={s.baseImage}
              placeholder="(from settings)"
              onChange={baseImage => this.update({ baseImage })}
            />
            <Text
              label="group"
              name="xgroup"
              value={s.xgroup}
              placeholder="(a new one)"
              onChange={xgroup => this.update({ xgroup })}
            />
          </div>
          <div className="caliban-dialog-column caliban-config">
            <span className="caliban-config-title">
              experiment config (JSON, <code>//</code> comments allowed)
            </span>
            <textarea
              name="experiment_config"
              spellCheck={false}
              value={s.config}
              onChange={e => this.update({ config: e.target.value })}
            />
          </div>
        </div>
        <RuntimeFields
          flags={s.flags}
          value={s.runtime}
          onChange={change =>
            this.update({ runtime: { ...s.runtime, ...change } })
          }
        />
        <div className={`caliban-message${s.message ? ' caliban-error' : ''}`}>
          {s.message
            ? `✗ ${s.message}`
            : s.checking
              ? 'checking…'
              : `✓ ${n} job${n === 1 ? '' : 's'} on ${s.preview?.jobs[0]?.backend ?? ''}`}
        </div>
        {s.preview && !s.message && runtimeSummary(s.preview.requests[0]) && (
          <div className="caliban-runtime-summary">
            runtime: {runtimeSummary(s.preview.requests[0])}
          </div>
        )}
        {s.preview && !s.message && costText(s.preview.cost) && (
          <div
            className="caliban-cost"
            title={s.preview.cost ? costSource(s.preview.cost) : ''}
          >
            estimated cost (list prices): {costText(s.preview.cost)}
          </div>
        )}
        {s.preview && !s.message && (
          <table className="caliban-preview">
            <thead>
              <tr>
                <th>job</th>
                <th>args</th>
                <th>machine</th>
                <th>region</th>
              </tr>
            </thead>
            <tbody>
              {s.preview.jobs.slice(0, 50).map(job => (
                <tr key={job.display_name}>
                  <td>{job.display_name}</td>
                  <td>{job.args.join(' ') || '(none)'}</td>
                  <td>
                    {job.machine.machineType}
                    {job.machine.acceleratorType
                      ? ` + ${job.machine.acceleratorCount}×${job.machine.acceleratorType}`
                      : ''}
                  </td>
                  <td>{job.region}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <div className="caliban-dialog-actions">
          <button
            className="jp-Dialog-button jp-mod-accept jp-mod-styled caliban-submit"
            disabled={!ok}
            onClick={() => void this.submit()}
          >
            {s.submitting
              ? 'Submitting…'
              : `Submit ${n || ''} job${n === 1 ? '' : 's'}`}
          </button>
        </div>
      </div>
    );
  }

  private _timer: ReturnType<typeof setTimeout> | undefined = undefined;
  private _asked = 0;
}

/** Open the Run as job dialog for ``notebook``. */
export function showRunDialog(
  options: Omit<IRunOptions, 'done'>
): Promise<void> {
  const dialog = new Dialog<void>({
    title: 'Run as job',
    body: ReactWidget.create(
      <RunForm {...options} done={() => dialog.resolve(0)} />
    ),
    buttons: [Dialog.cancelButton()]
  });
  dialog.addClass('caliban-run-dialog');
  return dialog.launch().then(() => undefined);
}
