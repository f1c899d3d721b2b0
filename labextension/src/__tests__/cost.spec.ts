/**
 * The dry run's cost in the dialog (cost.ts), from objects shaped as docs/cost-json.md.
 */
import { ICost, ICostOption } from '../api';
import { costText } from '../cost';

function option(
  strategy: string,
  job: number | null,
  unknown: string[] = []
): ICostOption {
  return {
    strategy,
    job_usd_per_hour: job,
    sweep_usd_per_hour: job === null ? null : job * 2,
    max_usd: null,
    unknown,
    parts: []
  };
}

function cost(chosen: string | null, options: ICostOption[]): ICost {
  return {
    currency: 'USD',
    estimate: 'list prices',
    prices_as_of: '2026-12-08',
    region: 'us-central1',
    jobs: 2,
    timeout_seconds: null,
    chosen,
    options,
    notes: [],
    warnings: []
  };
}

describe('costText', () => {
  it('shows on demand and Spot side by side when nothing was chosen', () => {
    expect(
      costText(cost(null, [option('on-demand', 3.5), option('SPOT', 1.25)]))
    ).toBe(
      'on demand $3.50/h per job, $7.00/h for all 2 at once; ' +
        'Spot $1.25/h per job, $2.50/h for all 2 at once'
    );
  });

  it('shows the chosen capacity only, with the most it can cost', () => {
    const spot = { ...option('SPOT', 1.25), max_usd: 5 };
    expect(costText(cost('SPOT', [spot]))).toBe(
      'Spot $1.25/h per job, $2.50/h for all 2 at once, at most $5.00'
    );
  });

  it('says an unknown price as the server does, never as zero', () => {
    const unknown =
      'no price known for a3-megagpu-8g in us-central1 (prices as of 2026-12-08)';
    expect(
      costText(cost('FLEX_START', [option('FLEX_START', null, [unknown])]))
    ).toBe(`flex-start: ${unknown}`);
    expect(costText(undefined)).toBeNull();
  });
});
