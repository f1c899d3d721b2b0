/**
 * Which listings call for a notification (notices.ts): pure decisions.
 */
import { IGroup } from '../api';
import { decideNotices } from '../notices';
import { group } from './fakes';

function seen(...groups: IGroup[]): Map<string, IGroup> {
  return new Map(groups.map(g => [g.xgroup, g]));
}

describe('decideNotices', () => {
  it('the first listing is the baseline', () => {
    expect(decideNotices(null, [group('g', { FAILED: 2 })])).toEqual([]);
  });

  it('a group never seen is compared with an empty one', () => {
    const notices = decideNotices(seen(), [
      group('g', { FAILED: 1, SUCCEEDED: 1 })
    ]);
    expect(notices.map(n => [n.kind, n.message, n.failed])).toEqual([
      ['finished', 'Experiment group g finished: 1 SUCCEEDED, 1 FAILED', true]
    ]);
    expect(
      decideNotices(seen(), [group('g', { SUCCEEDED: 2 })])[0]
    ).toMatchObject({ kind: 'finished', level: 'success', failed: false });
  });

  it('more failures are news; the same count is not', () => {
    const before = group('g', { RUNNING: 2, FAILED: 1 });
    const after = group('g', { RUNNING: 1, FAILED: 2 });
    expect(decideNotices(seen(before), [after]).map(n => n.message)).toEqual([
      '1 job of g FAILED'
    ]);
    expect(decideNotices(seen(after), [after])).toEqual([]);
  });

  it('a change is announced once: the next listing compares with this one', () => {
    const after = group('g', { RUNNING: 1, FAILED: 2 });
    expect(decideNotices(seen(), [after])).toHaveLength(1);
    expect(decideNotices(seen(after), [after])).toEqual([]);
  });

  it('a resubmitted group that finishes again, even as before, is news again', () => {
    // Job 1 succeeded, job 2 failed; job 2 resubmitted fails again: the same counts.
    const running = group('g', { SUCCEEDED: 1, RUNNING: 1 });
    const finished = group('g', { SUCCEEDED: 1, FAILED: 1 });
    const first = decideNotices(seen(running), [finished]);
    const again = decideNotices(seen(running), [finished]);
    expect(first.map(n => n.message)).toEqual([
      'Experiment group g finished: 1 SUCCEEDED, 1 FAILED'
    ]);
    expect(again).toEqual(first);
  });

  it('a group being submitted (its jobs recorded NOT_SUBMITTED) is not finished', () => {
    const pending = group('g', { NOT_SUBMITTED: 2 });
    expect(pending.finished).toBe(true); // as the server says it
    expect(decideNotices(seen(), [pending])).toEqual([]);
    const submitting = group(
      'g',
      { SUCCEEDED: 1, NOT_SUBMITTED: 1 },
      {
        submission: {
          state: 'submitting',
          message: 'submitted 1 of 2',
          notebook: 'a.ipynb',
          submitted: 1,
          total: 2,
          error: null
        }
      }
    );
    expect(decideNotices(seen(pending), [submitting])).toEqual([]);
    const running = group('g', { RUNNING: 2 });
    const done = group('g', { SUCCEEDED: 2 });
    expect(decideNotices(seen(pending), [running])).toEqual([]);
    expect(decideNotices(seen(running), [done]).map(n => n.level)).toEqual([
      'success'
    ]);
  });

  it('a failed submission says why, once, and not also "finished"', () => {
    const building = group(
      'g',
      {},
      {
        total: 2,
        submission: {
          state: 'building',
          message: 'building',
          notebook: 'a.ipynb',
          submitted: 0,
          total: 2,
          error: null
        }
      }
    );
    const failed = group(
      'g',
      {},
      {
        total: 2,
        finished: true,
        submission: {
          state: 'failed',
          message: 'no',
          notebook: 'a.ipynb',
          submitted: 0,
          total: 2,
          error: 'docker is not running'
        }
      }
    );
    expect(
      decideNotices(seen(building), [failed]).map(n => [n.kind, n.message])
    ).toEqual([
      [
        'submission-failed',
        'Submission of a.ipynb failed: docker is not running'
      ]
    ]);
    expect(decideNotices(seen(failed), [failed])).toEqual([]);
  });
});
