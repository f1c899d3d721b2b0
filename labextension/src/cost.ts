/**
 * The dry run's cost estimate in words (the `cost` object of the cost work's
 * docs/cost-json.md): the hourly figure of the chosen capacity, or on-demand and Spot side
 * by side. A missing price is said as the server says it, never shown as zero.
 */
import { ICost, ICostOption } from './api';

function usd(x: number): string {
  return x >= 100 ? `$${Math.round(x)}` : `$${x.toFixed(2)}`;
}

const NAMES: { [strategy: string]: string } = {
  'on-demand': 'on demand',
  SPOT: 'Spot',
  FLEX_START: 'flex-start'
};

function optionText(option: ICostOption, jobs: number): string {
  const name = NAMES[option.strategy] || option.strategy;
  if (option.unknown.length || option.job_usd_per_hour === null) {
    return `${name}: ${option.unknown[0] || 'no price known'}`;
  }
  const sweep =
    jobs > 1 && option.sweep_usd_per_hour !== null
      ? `, ${usd(option.sweep_usd_per_hour)}/h for all ${jobs} at once`
      : '';
  const most =
    option.max_usd !== null ? `, at most ${usd(option.max_usd)}` : '';
  return `${name} ${usd(option.job_usd_per_hour)}/h per job${sweep}${most}`;
}

/** ``on demand $3.67/h per job, $7.35/h for all 2 at once; Spot ...``, or null. */
export function costText(cost: ICost | undefined): string | null {
  if (!cost || !cost.options.length) {
    return null;
  }
  const chosen = cost.options.filter(o => o.strategy === cost.chosen);
  const shown = chosen.length ? chosen : cost.options;
  return shown.map(o => optionText(o, cost.jobs)).join('; ');
}

/** Where the figures come from, for the line's tooltip. */
export function costSource(cost: ICost): string {
  return (
    `Estimated from ${cost.estimate} as of ${cost.prices_as_of} (${cost.region}, ` +
    `${cost.currency}). ${[...cost.notes, ...cost.warnings].join(' ')}`
  ).trim();
}
