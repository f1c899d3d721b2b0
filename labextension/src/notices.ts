/**
 * Which notifications a new listing of the groups calls for: pure decisions (unit-tested),
 * shown by the model.
 *
 * The first listing a tab gets is its baseline: what was already there when the lab
 * opened is not news. After that, every group is compared with what this tab last saw of
 * it, and a group it never saw (submitted after the lab opened, from anywhere on this
 * machine) is compared with an empty one: a sweep whose job fails before the next check,
 * or that finishes between two checks, is still announced. A notice is a change between
 * two listings, and the model remembers each listing, so a tab announces each change
 * once (a resubmitted group that finishes again is a new change).
 */
import { IGroup } from './api';
import { countsText } from './format';

export type NoticeKind = 'failed' | 'finished' | 'submission-failed';

export interface INotice {
  /** What changed (for tests and logs). */
  key: string;
  kind: NoticeKind;
  xgroup: string;
  level: 'success' | 'warning' | 'error';
  message: string;
  /** Offer Show logs and Resubmit (some job FAILED). */
  failed: boolean;
}

/** What a group looked like to this tab (a group it never saw: nothing yet). */
const UNSEEN: Pick<IGroup, 'counts' | 'finished' | 'submission'> = {
  counts: {},
  finished: false,
  submission: undefined
};

function failures(group: Pick<IGroup, 'counts'>): number {
  return group.counts.FAILED || 0;
}

/**
 * Finished as far as news goes. The server counts NOT_SUBMITTED as final, but every
 * submission records its jobs NOT_SUBMITTED just before creating them: a group whose
 * jobs are all NOT_SUBMITTED is being submitted (or its submission failed, which its
 * submitter saw, and a lab submission's own notice says), and a lab submission still
 * building or submitting is not finished whatever its records say.
 */
function finished(
  group: Pick<IGroup, 'counts' | 'finished' | 'submission'>
): boolean {
  const states = Object.keys(group.counts);
  const busy =
    group.submission &&
    ['building', 'submitting'].includes(group.submission.state);
  return (
    group.finished &&
    !busy &&
    states.length > 0 &&
    states.some(s => s !== 'NOT_SUBMITTED')
  );
}

/**
 * The notices ``groups`` call for, given what this tab last saw of each group
 * (``seen``, by xgroup); ``null`` for the first listing (the baseline: no notices).
 */
export function decideNotices(
  seen: Map<string, IGroup> | null,
  groups: IGroup[]
): INotice[] {
  if (seen === null) {
    return [];
  }
  const out: INotice[] = [];
  const add = (notice: INotice) => out.push(notice);
  for (const group of groups) {
    const previous = seen.get(group.xgroup) || UNSEEN;
    const failed = failures(group);
    const newlyFailed = failed - failures(previous);
    const stamp = `${group.total}:${countsText(group.counts)}`;
    if (finished(group) && !finished(previous)) {
      add({
        key: `finished:${group.xgroup}:${stamp}`,
        kind: 'finished',
        xgroup: group.xgroup,
        level: failed || group.counts.NOT_SUBMITTED ? 'warning' : 'success',
        message: `Experiment group ${group.xgroup} finished: ${countsText(group.counts)}`,
        failed: failed > 0
      });
    } else if (newlyFailed > 0) {
      add({
        key: `failed:${group.xgroup}:${failed}:${stamp}`,
        kind: 'failed',
        xgroup: group.xgroup,
        level: 'error',
        message: `${newlyFailed} job${newlyFailed === 1 ? '' : 's'} of ${group.xgroup} FAILED`,
        failed: true
      });
    }
    const sub = group.submission;
    if (
      sub &&
      sub.state === 'failed' &&
      previous.submission?.state !== 'failed'
    ) {
      add({
        key: `submission:${group.xgroup}`,
        kind: 'submission-failed',
        xgroup: group.xgroup,
        level: 'error',
        message: `Submission of ${sub.notebook} failed: ${sub.error}`,
        failed: false
      });
    }
  }
  return out;
}
