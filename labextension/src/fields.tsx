/**
 * The Run as job dialog's inputs: labelled selects and text fields, and the runtime
 * section (capacity, timeout, workers). Values stay text: the server's dry run validates
 * them as `caliban cloud` does, so the dialog never repeats its rules.
 */
import React from 'react';

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

export interface IRuntime {
  capacity: Capacity;
  maxWait: string;
  timeout: string;
  workers: string;
  workerMachine: string;
  workerGpu: string;
}

export const NO_RUNTIME: IRuntime = {
  capacity: 'on-demand',
  maxWait: '',
  timeout: '',
  workers: '',
  workerMachine: '',
  workerGpu: ''
};

/** Workers asked for: their machine and GPU fields apply only then. */
function hasWorkers(r: IRuntime): boolean {
  return r.workers.trim() !== '' && r.workers.trim() !== '0';
}

/**
 * The runtime options as caliban cloud's flag keys. Spot and flex-start are one choice,
 * so the dialog cannot send both; a max wait is sent only with flex-start, worker
 * settings only with workers (hidden fields never change the job).
 */
export function runtimeOptions(r: IRuntime): { [key: string]: unknown } {
  const options: { [key: string]: unknown } = {};
  if (r.capacity === 'Spot') {
    options.spot = true;
  } else if (r.capacity === 'flex-start') {
    options.flex_start = true;
    if (r.maxWait.trim()) {
      options.max_wait = r.maxWait.trim();
    }
  }
  if (r.timeout.trim()) {
    options.timeout = r.timeout.trim();
  }
  if (hasWorkers(r)) {
    options.workers = r.workers.trim();
    if (r.workerMachine.trim()) {
      options.worker_machine_type = r.workerMachine.trim();
    }
    if (r.workerGpu.trim()) {
      options.worker_gpu_spec = r.workerGpu.trim();
    }
  }
  return options;
}

/** Capacity, max wait, timeout and worker pool inputs. */
export function RuntimeFields(props: {
  value: IRuntime;
  onChange: (change: Partial<IRuntime>) => void;
}): JSX.Element {
  const r = props.value;
  // Two rows under the main fields, each change in place: capacity, timeout and (with
  // flex-start) max wait; then workers and (with workers) their machine and GPUs.
  return (
    <div className="caliban-dialog-runtime">
      <div className="caliban-runtime-row">
        <label className="caliban-field">
          <span>capacity</span>
          <span className="caliban-kinds">
            {CAPACITIES.map(capacity => (
              <button
                key={capacity}
                data-capacity={capacity}
                className={`caliban-kind caliban-capacity${
                  capacity === r.capacity ? ' caliban-selected' : ''
                }`}
                onClick={() => props.onChange({ capacity })}
              >
                {capacity}
              </button>
            ))}
          </span>
        </label>
        <Text
          label="timeout"
          name="timeout"
          value={r.timeout}
          placeholder="(none), e.g. 90m, 2h, 1d"
          onChange={timeout => props.onChange({ timeout })}
        />
        {r.capacity === 'flex-start' && (
          <Text
            label="max wait"
            name="max_wait"
            value={r.maxWait}
            placeholder="e.g. 2h (0s: forever)"
            onChange={maxWait => props.onChange({ maxWait })}
          />
        )}
      </div>
      <div className="caliban-runtime-row">
        <Text
          label="workers"
          name="workers"
          value={r.workers}
          placeholder="0 (besides the chief)"
          onChange={workers => props.onChange({ workers })}
        />
        {hasWorkers(r) && (
          <Text
            label="worker machine"
            name="worker_machine_type"
            value={r.workerMachine}
            placeholder="(the chief's)"
            onChange={workerMachine => props.onChange({ workerMachine })}
          />
        )}
        {hasWorkers(r) && (
          <Text
            label="worker GPUs"
            name="worker_gpu_spec"
            value={r.workerGpu}
            placeholder="(the chief's) or none"
            onChange={workerGpu => props.onChange({ workerGpu })}
          />
        )}
      </div>
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
