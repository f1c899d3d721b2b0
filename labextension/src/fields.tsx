/**
 * The Run as job dialog's inputs: labelled selects and text fields, and the runtime
 * section, rendered from the server's flag schema (capacity, timeout, workers...).
 * Values stay text: the server's dry run validates them as `caliban cloud` does, so the
 * dialog never repeats its rules.
 */
import React from 'react';

import { IFlag } from './api';
import { labelOf, placeholderOf, runtimeFlags } from './flags';

export function Select(props: {
  label: string;
  name: string;
  value: string;
  options: string[];
  empty?: string;
  onChange: (value: string) => void;
}): JSX.Element {
  const options = [...props.options];
  const offered = !props.value || options.includes(props.value);
  return (
    <label className="caliban-field">
      <span>{props.label}</span>
      <select
        name={props.name}
        className={offered ? '' : 'caliban-invalid'}
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      >
        {props.empty !== undefined && <option value="">{props.empty}</option>}
        {!offered && (
          <option value={props.value}>{props.value} ✗ not offered</option>
        )}
        {options.map(o => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </label>
  );
}

export function Text(props: {
  label: string;
  name: string;
  value: string;
  placeholder?: string;
  onChange: (value: string) => void;
}): JSX.Element {
  return (
    <label className="caliban-field">
      <span>{props.label}</span>
      <input
        name={props.name}
        value={props.value}
        placeholder={props.placeholder}
        onChange={e => props.onChange(e.target.value)}
      />
    </label>
  );
}

/** How Vertex finds capacity: now at list price, Spot VMs, or queued (flex-start). */
export type Capacity = 'on-demand' | 'Spot' | 'flex-start';

export const CAPACITIES: Capacity[] = ['on-demand', 'Spot', 'flex-start'];

/** The runtime section's values: the capacity choice, and every other flag's value by
 * its name (text as typed, or a checkbox's boolean). */
export interface IRuntime {
  capacity: Capacity;
  values: { [name: string]: string | boolean };
}

export const NO_RUNTIME: IRuntime = { capacity: 'on-demand', values: {} };

function text(r: IRuntime, name: string): string {
  const value = r.values[name];
  return typeof value === 'string' ? value.trim() : '';
}

/** Workers asked for: their machine and GPU fields apply only then. */
function hasWorkers(r: IRuntime): boolean {
  return text(r, 'workers') !== '' && text(r, 'workers') !== '0';
}

/** Flags that apply only with another choice: hidden (and never sent) otherwise. */
const APPLIES: { [name: string]: (r: IRuntime) => boolean } = {
  max_wait: r => r.capacity === 'flex-start',
  worker_machine_type: hasWorkers,
  worker_gpu_spec: hasWorkers
};

/** Spot and flex-start are one choice (capacity) when the server offers both. */
function capacityFlags(flags: IFlag[]): boolean {
  return ['spot', 'flex_start'].every(name => flags.some(f => f.name === name));
}

function shown(flag: IFlag, r: IRuntime, flags: IFlag[]): boolean {
  if (
    capacityFlags(flags) &&
    (flag.name === 'spot' || flag.name === 'flex_start')
  ) {
    return false;
  }
  const applies = APPLIES[flag.name];
  return !applies || applies(r);
}

/**
 * The runtime options as caliban cloud's flag keys. Spot and flex-start are one choice,
 * so the dialog cannot send both; a flag that applies only with another choice (a max
 * wait without flex-start, worker settings without workers) is never sent.
 */
export function runtimeOptions(
  r: IRuntime,
  flags: IFlag[]
): { [key: string]: unknown } {
  const options: { [key: string]: unknown } = {};
  const runtime = runtimeFlags(flags);
  if (capacityFlags(runtime)) {
    if (r.capacity === 'Spot') {
      options.spot = true;
    } else if (r.capacity === 'flex-start') {
      options.flex_start = true;
    }
  }
  for (const flag of runtime) {
    if (!shown(flag, r, runtime)) {
      continue;
    }
    const value = r.values[flag.name];
    if (flag.type === 'bool') {
      if (value === true) {
        options[flag.name] = true;
      }
    } else if (text(r, flag.name)) {
      options[flag.name] = text(r, flag.name);
    }
  }
  return options;
}

/** One runtime flag's input: a checkbox, a select of its choices, or a text field. */
function FlagField(props: {
  flag: IFlag;
  value: string | boolean | undefined;
  onChange: (value: string | boolean) => void;
}): JSX.Element {
  const { flag, value } = props;
  if (flag.type === 'bool') {
    return (
      <label className="caliban-field" title={flag.help}>
        <span>{labelOf(flag)}</span>
        <input
          type="checkbox"
          name={flag.name}
          checked={value === true}
          onChange={e => props.onChange(e.target.checked)}
        />
      </label>
    );
  }
  if (flag.type === 'choice' && flag.choices) {
    return (
      <Select
        label={labelOf(flag)}
        name={flag.name}
        value={typeof value === 'string' ? value : ''}
        options={flag.choices}
        empty="(default)"
        onChange={props.onChange}
      />
    );
  }
  return (
    <label className="caliban-field" title={flag.help}>
      <span>{labelOf(flag)}</span>
      <input
        name={flag.name}
        value={typeof value === 'string' ? value : ''}
        placeholder={placeholderOf(flag)}
        onChange={e => props.onChange(e.target.value)}
      />
    </label>
  );
}

/** The runtime flags the server lists for the lab (capacity, timeout, workers...). */
export function RuntimeFields(props: {
  flags: IFlag[];
  value: IRuntime;
  onChange: (change: Partial<IRuntime>) => void;
}): JSX.Element {
  const r = props.value;
  const runtime = runtimeFlags(props.flags);
  return (
    <div className="caliban-dialog-runtime">
      {capacityFlags(runtime) && (
        <div
          className="caliban-field caliban-capacity-field"
          role="group"
          aria-label="capacity"
        >
          <span>capacity</span>
          <span className="caliban-kinds">
            {CAPACITIES.map(capacity => (
              <button
                key={capacity}
                type="button"
                data-capacity={capacity}
                aria-pressed={capacity === r.capacity}
                className={`caliban-kind caliban-capacity${
                  capacity === r.capacity ? ' caliban-selected' : ''
                }`}
                onClick={() => props.onChange({ capacity })}
              >
                {capacity}
              </button>
            ))}
          </span>
        </div>
      )}
      {runtime
        .filter(flag => shown(flag, r, runtime))
        .map(flag => (
          <FlagField
            key={flag.name}
            flag={flag}
            value={r.values[flag.name]}
            onChange={value =>
              props.onChange({ values: { ...r.values, [flag.name]: value } })
            }
          />
        ))}
    </div>
  );
}

/**
 * What the server made of the runtime choices, from the dry run's first request body:
 * its scheduling and its pools, e.g. "FLEX_START, max wait 7200s, timeout 10800s;
 * 1 chief + 2 workers". Empty when the job is a plain one-machine, on-demand job.
 */
export function runtimeSummary(body: any): string {
  const spec = body && body.jobSpec;
  if (!spec) {
    return '';
  }
  const parts: string[] = [];
  const scheduling = spec.scheduling || {};
  if (scheduling.strategy) {
    parts.push(String(scheduling.strategy));
  }
  if (scheduling.maxWaitDuration) {
    parts.push(`max wait ${scheduling.maxWaitDuration}`);
  }
  if (scheduling.timeout) {
    parts.push(`timeout ${scheduling.timeout}`);
  }
  const pools: any[] = spec.workerPoolSpecs || [];
  if (pools.length > 1) {
    const workers = pools
      .slice(1)
      .map(pool => {
        const m = pool.machineSpec || {};
        const gpu = m.acceleratorType
          ? ` + ${m.acceleratorCount}×${m.acceleratorType}`
          : '';
        return (
          `${pool.replicaCount} worker${Number(pool.replicaCount) === 1 ? '' : 's'} ` +
          `(${m.machineType}${gpu})`
        );
      })
      .join(', ');
    parts.push(`1 chief + ${workers}`);
  }
  return parts.join(', ');
}
