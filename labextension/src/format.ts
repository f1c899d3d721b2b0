/**
 * How the panel words a job: pure functions of the server's JSON (unit-tested).
 */
import { IJob } from './api';

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

export function ordered(counts: {
  [state: string]: number;
}): [string, number][] {
  const rank = (s: string) =>
    ORDER.includes(s) ? ORDER.indexOf(s) : ORDER.length;
  return Object.entries(counts).sort((a, b) => rank(a[0]) - rank(b[0]));
}

/** ``2 RUNNING, 1 FAILED`` (attention first). */
export function countsText(counts: { [state: string]: number }): string {
  return ordered(counts)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
}

/** Seconds as ``4s``, ``3m20s`` or ``2h5m``. */
export function durationText(seconds: number): string {
  let s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  s = s % 60;
  return h ? `${h}h${m}m` : m ? `${m}m${s}s` : `${s}s`;
}

/** How long the job ran (or has run so far); empty before it started. */
export function duration(job: IJob, now: number = Date.now()): string {
  const start = job.started || job.created;
  if (!start) {
    return '';
  }
  const end = job.ended ? Date.parse(job.ended) : now;
  return durationText((end - Date.parse(start)) / 1000);
}

/** ``2×V100``, or empty for a CPU-only job. */
export function accelerator(job: IJob): string {
  const m = job.machine;
  if (!m.acceleratorType) {
    return '';
  }
  const short = m.acceleratorType.replace(/^NVIDIA_(TESLA_)?/, '');
  return `${m.acceleratorCount || 1}×${short}`;
}

/**
 * The part every name shares, cut after its last ``_``: a group's jobs are named
 * ``{name}_{stamp}_{index}``, so the prefix is ``{name}_{stamp}_`` and what is left of
 * each name is its index (and a retry's suffix). Empty for fewer than two names.
 */
export function commonPrefix(names: string[]): string {
  if (names.length < 2) {
    return names.length === 1
      ? names[0].slice(0, names[0].lastIndexOf('_') + 1)
      : '';
  }
  let prefix = names[0];
  for (const name of names.slice(1)) {
    let i = 0;
    while (i < prefix.length && i < name.length && prefix[i] === name[i]) {
      i++;
    }
    prefix = prefix.slice(0, i);
  }
  return prefix.slice(0, prefix.lastIndexOf('_') + 1);
}

/** What a job's name adds to the group's prefix, when its index does not say it all
 * (``2-retry1``); empty otherwise. */
export function nameSuffix(job: IJob, prefix: string): string {
  const rest = job.display_name.startsWith(prefix)
    ? job.display_name.slice(prefix.length)
    : job.display_name;
  return rest === String(job.index) ? '' : rest;
}

/** A job's arguments as one line (``(no args)`` for none). */
export function argsText(job: IJob): string {
  return job.args.join(' ') || '(no args)';
}

/** An error's first non-empty line (the rest shows when expanded). */
export function firstLine(text: string): string {
  const line = text.split('\n').find(l => l.trim());
  return (line || text).trim();
}
